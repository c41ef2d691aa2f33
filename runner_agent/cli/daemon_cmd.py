"""``runner-agent run``: the daemon."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    LogLevel,
    StateDirOption,
    flags,
    load,
)

if TYPE_CHECKING:
    from runner_agent.config import Config


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
    _leave_out_unused_libraries()
    overrides = flags(
        api_url=("--api-url", api_url),
        state_dir=("--state-dir", state_dir),
        healthcheck__interval=("--interval", interval),
        local_api__listen=("--listen", listen),
        runner__region_id=("--region-id", region_id),
    )
    config = load(config_path, overrides, log_level=log_level, quiet=False)

    from runner_agent.config import load_config
    from runner_agent.daemon import Daemon

    def reload() -> Config:
        level = flags(log_level=("--log-level", log_level))
        return load_config(config_path, flags={**overrides, **level})

    code = Daemon(config, reload_config=reload).run()
    raise typer.Exit(code)


def _leave_out_unused_libraries() -> None:
    """Keep rich, pygments and click out of the daemon's memory.

    httpx imports its own command line (click and rich), and structlog its
    pretty tracebacks (rich), whenever they are installed: rich comes with
    the command line's help, click with the MCP extra. The daemon uses none
    of them (typer carries its own copy of click), and on every runner host
    they would cost several megabytes for as long as it runs. Both libraries
    treat a failed import as "not installed".
    """
    for name in ("rich", "pygments", "click"):
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
