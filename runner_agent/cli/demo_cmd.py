"""``runner-agent demo``: the agent end to end against a local emulator."""

from __future__ import annotations

from typing import Annotated

import typer


def demo(
    interval: Annotated[
        str, typer.Option(help='Healthcheck interval of the demo agent, e.g. "2s".')
    ] = "2s",
    duration: Annotated[
        str | None,
        typer.Option(
            help='Stop by itself after this long, e.g. "60s".', show_default=False
        ),
    ] = None,
) -> None:
    """Run the agent live against a local control plane; Ctrl-C stops it.

    Needs no configuration, no root and no network beyond loopback; nothing
    is left behind.

    Example: runner-agent demo --interval 1s
    """
    from runner_agent.cli.common import duration_option
    from runner_agent.demo import run_demo

    beat = duration_option("--interval", interval)
    stop_after = duration_option("--duration", duration) if duration else None
    raise typer.Exit(run_demo(beat, stop_after))
