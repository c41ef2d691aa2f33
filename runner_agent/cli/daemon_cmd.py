"""``runner-agent run``: the daemon, as typer knows it.

A plain ``run`` command line never reaches typer: the entry point starts
the daemon through :mod:`runner_agent.cli.daemon_launch`. This command is
what ``--help`` shows and what parses every other form, so it declares
exactly the options of :data:`~runner_agent.cli.daemon_launch.RUN_OPTIONS`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from runner_agent.cli.common import ApiUrl, ConfigPath, LogLevel, StateDirOption
from runner_agent.cli.daemon_launch import start_daemon


def run(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    interval: Annotated[
        str | None,
        typer.Option(help='Healthcheck interval, e.g. "10s".', show_default=False),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            help='Local endpoint address, e.g. "127.0.0.1:9713"; "off" disables it.',
            show_default=False,
        ),
    ] = None,
    region_id: Annotated[
        str | None,
        typer.Option(help="Region to register in if this host has no identity yet."),
    ] = None,
) -> None:
    """Run the agent: register if needed, beat, watch, serve, stop cleanly.

    Example: runner-agent run --config /etc/runner-agent/config.toml
    """
    code = start_daemon(
        config_path=config_path,
        api_url=api_url,
        state_dir=state_dir,
        log_level=log_level,
        interval=interval,
        listen=listen,
        region_id=region_id,
    )
    raise typer.Exit(code)
