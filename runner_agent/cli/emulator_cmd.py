"""``runner-agent emulator``: serve the runners API emulator in the foreground.

It prints where it listens and its keys (throwaway test keys: showing them
is the point), then serves until SIGINT or SIGTERM and exits 0 after a clean
stop. Sample output::

    Daytona runners API emulator
      url               http://127.0.0.1:41234/api
      control url       http://127.0.0.1:41234/_emulator
      organization id   6f1c...
      organization key  dtn_...
      proxy key         dtn_...
      region            local (0b9e...)
    Stop with Ctrl+C.

The emulator is imported inside the command so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

__all__ = ["emulator"]

_EXIT_FAILED = 1


def emulator(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port to listen on; 0 picks a free one.")
    ] = 0,
    organization_id: Annotated[
        str | None,
        typer.Option(help="Organization id to use instead of a random UUID."),
    ] = None,
    organization_key: Annotated[
        str | None,
        typer.Option(help="Organization key to accept instead of a new one."),
    ] = None,
    proxy_key: Annotated[
        str | None, typer.Option(help="Proxy key to accept instead of a new one.")
    ] = None,
    region_id: Annotated[
        str | None, typer.Option(help="Id of the custom region (default: a new UUID).")
    ] = None,
    region_name: Annotated[
        str, typer.Option(help="Name of the custom region.")
    ] = "local",
    check_interval: Annotated[
        str,
        typer.Option(help="Period of the runner check, e.g. 10, 0.2, 500ms, 10s, 2m."),
    ] = "10s",
    unresponsive_after: Annotated[
        str,
        typer.Option(help="Silence after which a ready runner becomes unresponsive."),
    ] = "60s",
    decommission_checks: Annotated[
        int,
        typer.Option(
            help="Checks in a row a draining runner must hold no live sandbox "
            "before it is decommissioned."
        ),
    ] = 3,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON line with the facts, then serve."),
    ] = False,
) -> None:
    """Serve a local, stateful emulator of the Daytona runners API.

    It prints its URL and its throwaway keys, then serves until Ctrl-C.

    Example: runner-agent emulator --port 3986 --check-interval 1s --json
    """
    from runner_agent.cli.common import duration_option
    from runner_agent.emulator import EmulatorSettings, serve

    chosen: dict[str, Any] = {
        "organization_id": organization_id,
        "organization_key": organization_key,
        "proxy_key": proxy_key,
        "region_id": region_id,
    }
    try:
        settings = EmulatorSettings(
            host=host,
            port=port,
            region_name=region_name,
            check_interval=duration_option("--check-interval", check_interval),
            unresponsive_after=duration_option(
                "--unresponsive-after", unresponsive_after
            ),
            decommission_checks=decommission_checks,
            **{key: value for key, value in chosen.items() if value is not None},
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None

    stop = threading.Event()
    announce = _print_json if json_output else _print_human
    with _stop_on_signals(stop):
        try:
            serve(settings, announce, stop)
        except OSError as error:
            typer.echo(f"emulator: cannot listen on {host}:{port}: {error}", err=True)
            raise typer.Exit(_EXIT_FAILED) from None


def _print_json(facts: dict[str, Any]) -> None:
    typer.echo(json.dumps(facts, separators=(",", ":")))


def _print_human(facts: dict[str, Any]) -> None:
    rows = (
        ("url", facts["url"]),
        ("control url", facts["controlUrl"]),
        ("organization id", facts["organizationId"]),
        ("organization key", facts["organizationKey"]),
        ("proxy key", facts["proxyKey"]),
        ("region", f"{facts['regionName']} ({facts['regionId']})"),
    )
    lines = ["Daytona runners API emulator"]
    lines += [f"  {label:<17} {value}" for label, value in rows]
    lines.append("Stop with Ctrl+C.")
    typer.echo("\n".join(lines))


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
