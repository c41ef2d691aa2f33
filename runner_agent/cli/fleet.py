"""``runner-agent runners ...``: the runners admin API on any runner.

Tables for people, ``--json`` for scripts. Keys are masked unless
``--show-secrets``. ``list``, ``get``, ``delete``, ``scheduling``,
``draining`` and ``watch`` use the organization key; ``full``,
``by-sandbox`` and ``by-snapshot-ref`` use the proxy key
(``DAYTONA_PROXY_API_KEY``). ``scheduling`` and ``draining`` on this
host's own runner also keep the agent's intent record, as ``cordon`` and
``drain`` do.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    LogLevel,
    ShowSecrets,
    Yes,
    confirm,
    echo,
    fields,
    flags,
    load,
    print_json,
    refuse_without_terminal,
    table,
)

if TYPE_CHECKING:
    from runner_agent.client import RunnersClient
    from runner_agent.context import AgentContext
    from runner_agent.models import Runner, RunnerFull

app = typer.Typer(
    help="The runners admin API: list, inspect, cordon, drain, delete any runner.",
    no_args_is_help=True,
)

RunnerId = Annotated[str, typer.Argument(help="The runner's id (a UUID).")]
RegionId = Annotated[
    str | None,
    typer.Option(
        "--region-id", help="Only the runners of this region.", show_default=False
    ),
]
FLEET_HEADERS = [
    "id",
    "name",
    "state",
    "cpu %",
    "mem %",
    "disk %",
    "sandboxes",
    "checked",
    "unschedulable",
]


# Views shared with the commands about this runner.


def seconds_since(iso: str | None, now: datetime) -> float | None:
    """Seconds from an API timestamp to ``now``; None when absent or unreadable."""
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


def age(seconds: float | None) -> str:
    """A short age: 8s, 4m, 3h, 2d; ``never`` when unknown."""
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def server_now(client: RunnersClient) -> datetime:
    """The control plane's clock when known (ages then ignore local skew)."""
    return client.server_date or datetime.now(UTC)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def runner_fields(
    runner: Runner, now: datetime, *, show_secrets: bool = False
) -> list[tuple[str, Any]]:
    """A runner as ``label  value`` pairs."""
    checked = runner.last_checked
    pairs: list[tuple[str, Any]] = [
        ("runner", f"{runner.name} ({runner.id})"),
        ("region", runner.region),
        ("state", runner.state),
        ("unschedulable", "yes" if runner.unschedulable else "no"),
        (
            "last checked",
            f"{checked} ({age(seconds_since(checked, now))} ago)"
            if checked
            else "never",
        ),
        ("capacity", _capacity(runner)),
        (
            "usage",
            f"cpu {percent(runner.cpu_usage)}% / memory "
            f"{percent(runner.memory_usage)}% / disk {percent(runner.disk_usage)}%",
        ),
        ("started sandboxes", _number(runner.started_sandboxes)),
        (
            "class / version",
            f"{runner.sandbox_class or '-'} / {runner.app_version or '-'}",
        ),
        ("domain", runner.domain),
        ("tags", ", ".join(runner.tags)),
    ]
    api_key = getattr(runner, "api_key", None)
    if api_key is not None:
        pairs.append(("api key", api_key.reveal() if show_secrets else api_key.masked))
    return pairs


def _capacity(runner: Runner) -> str:
    gpu = f" / {runner.gpu:g} GPU" if runner.gpu else ""
    return (
        f"{_number(runner.cpu)} CPU / {_number(runner.memory_gib)} GiB memory / "
        f"{_number(runner.disk_gib)} GiB disk{gpu}"
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def fleet_table(runners: list[Runner], now: datetime) -> str:
    """The fleet as an aligned table, one runner a line."""
    rows = [
        [
            runner.id,
            runner.name,
            runner.state,
            percent(runner.cpu_usage),
            percent(runner.memory_usage),
            percent(runner.disk_usage),
            _number(runner.started_sandboxes),
            age(seconds_since(runner.last_checked, now)),
            "yes" if runner.unschedulable else "no",
        ]
        for runner in runners
    ]
    return table(rows, FLEET_HEADERS)


# Plumbing.


def _context(
    config_path: Path | None, api_url: str | None, log_level: str | None
) -> AgentContext:
    from runner_agent.context import AgentContext

    config = load(
        config_path, flags(api_url=("--api-url", api_url)), log_level=log_level
    )
    return AgentContext(config)


def _client(
    config_path: Path | None, api_url: str | None, log_level: str | None
) -> RunnersClient:
    return _context(config_path, api_url, log_level).client


def _runner_id(value: str) -> str:
    from runner_agent.errors import UsageError

    try:
        uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a runner id (a UUID)") from None
    return value


def _show_full(
    runner: RunnerFull, json_output: bool, show_secrets: bool, now: datetime
) -> None:
    if json_output:
        print_json(runner.to_json(show_secrets=show_secrets))
    else:
        echo(fields(runner_fields(runner, now, show_secrets=show_secrets)))


# The commands.


@app.command("list")
def list_runners(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    region_id: RegionId = None,
    json_output: Json = False,
) -> None:
    """List the organization's runners.

    Example: runner-agent runners list --region-id 0b9e... --json
    """
    with _client(config_path, api_url, log_level) as client:
        runners = client.list_runners(region_id)
        now = server_now(client)

    if json_output:
        print_json([runner.to_json() for runner in runners])
    elif runners:
        echo(fleet_table(runners, now))
    else:
        echo("No runners.")


@app.command("get")
def get(
    runner_id: RunnerId,
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Show one runner.

    Example: runner-agent runners get 3f1c2a9e-... --json
    """
    with _client(config_path, api_url, log_level) as client:
        runner = client.get_runner(_runner_id(runner_id))
        now = server_now(client)

    if json_output:
        print_json(runner.to_json())
    else:
        echo(fields(runner_fields(runner, now)))


@app.command("full")
def full(
    runner_id: RunnerId,
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show one runner with its key (masked), using the proxy key.

    Example: DAYTONA_PROXY_API_KEY=... runner-agent runners full 3f1c2a9e-...
    """
    with _client(config_path, api_url, log_level) as client:
        runner = client.get_runner_full(_runner_id(runner_id))
        now = server_now(client)

    _show_full(runner, json_output, show_secrets, now)


@app.command("by-sandbox")
def by_sandbox(
    sandbox_id: Annotated[str, typer.Argument(help="The sandbox's id.")],
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show the runner that holds a sandbox, using the proxy key.

    Example: runner-agent runners by-sandbox 7d0e4c1b-... --json
    """
    with _client(config_path, api_url, log_level) as client:
        runner = client.get_by_sandbox(sandbox_id)
        now = server_now(client)

    _show_full(runner, json_output, show_secrets, now)


@app.command("by-snapshot-ref")
def by_snapshot_ref(
    ref: Annotated[str, typer.Argument(help="The snapshot reference.")],
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """List the runners that hold a snapshot, using the proxy key.

    Example: runner-agent runners by-snapshot-ref registry.example/base:1.2
    """
    with _client(config_path, api_url, log_level) as client:
        found = client.get_by_snapshot_ref(ref)

    if json_output:
        print_json([item.to_json() for item in found])
    elif found:
        rows = [
            [item.runner_id, item.runner_domain or "-", item.runner_snapshot_id]
            for item in found
        ]
        echo(table(rows, ["runner id", "domain", "runner snapshot id"]))
    else:
        echo(f"No runner holds {ref}.")


@app.command("delete")
def delete(
    runner_id: RunnerId,
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    yes: Yes = False,
    json_output: Json = False,
) -> None:
    """Delete a runner; it must be unschedulable and hold no live sandbox.

    Asks first on a terminal; --yes skips the question. To retire this
    host's own runner, use runner-agent deregister instead.

    Example: runner-agent runners delete 3f1c2a9e-... --yes
    """
    from runner_agent.errors import BadRequestError

    runner_id = _runner_id(runner_id)
    refuse_without_terminal(f"Delete runner {runner_id} for good?", yes=yes)
    with _client(config_path, api_url, log_level) as client:
        runner = client.get_runner(runner_id)
        confirm(f"Delete runner {runner.name} ({runner.id}) for good?", yes=yes)
        try:
            client.delete_runner(runner.id)
        except BadRequestError as error:
            raise error.with_hint(
                f"cordon it first (runner-agent runners scheduling {runner.id} "
                "--disable) and let its sandboxes finish"
            ) from None

    if json_output:
        print_json({"deleted": True, "runnerId": runner.id, "name": runner.name})
    else:
        echo(f"Deleted runner {runner.name} ({runner.id}).")


@app.command("scheduling")
def scheduling(
    runner_id: RunnerId,
    enable: Annotated[
        bool | None,
        typer.Option(
            "--enable/--disable",
            help="Let sandboxes be scheduled on it, or cordon it.",
            show_default=False,
        ),
    ] = None,
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Cordon (--disable) or uncordon (--enable) a runner.

    Example: runner-agent runners scheduling 3f1c2a9e-... --disable
    """
    from runner_agent import lifecycle
    from runner_agent.errors import UsageError

    if enable is None:
        raise UsageError("say --enable or --disable")
    runner_id = _runner_id(runner_id)
    context = _context(config_path, api_url, log_level)
    with context.client:
        runner = lifecycle.set_scheduling(context, runner_id, unschedulable=not enable)

    if json_output:
        print_json(runner.to_json())
    else:
        done = "schedulable" if enable else "cordoned (unschedulable)"
        echo(f"Runner {runner.name} ({runner.id}) is {done}.")


@app.command("draining")
def draining(
    runner_id: RunnerId,
    on: Annotated[
        bool | None,
        typer.Option(
            "--on/--off",
            help="Start draining (permanent retirement) or stop it.",
            show_default=False,
        ),
    ] = None,
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Start (--on) or stop (--off) draining a runner.

    A draining runner becomes decommissioned once it holds no live
    sandbox, and that is final. For a pause, use scheduling --disable.

    Example: runner-agent runners draining 3f1c2a9e-... --on
    """
    from runner_agent import lifecycle
    from runner_agent.errors import UsageError

    if on is None:
        raise UsageError("say --on or --off")
    runner_id = _runner_id(runner_id)
    context = _context(config_path, api_url, log_level)
    with context.client:
        runner = lifecycle.set_draining(context, runner_id, draining=on)

    if json_output:
        print_json(runner.to_json())
    else:
        done = "draining" if on else "no longer draining"
        echo(f"Runner {runner.name} ({runner.id}) is {done} (state {runner.state}).")


@app.command("watch")
def watch(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    region_id: RegionId = None,
    interval: Annotated[
        float,
        typer.Option(help="Seconds between refreshes.", min=0.1),
    ] = 5.0,
    count: Annotated[
        int | None,
        typer.Option(help="Stop after this many refreshes.", min=1, show_default=False),
    ] = None,
    json_output: Json = False,
) -> None:
    """Watch the fleet: a table refreshed every few seconds until Ctrl-C.

    On a terminal the table is redrawn in place; otherwise a new table is
    printed on each refresh (with --json, one JSON document a line).

    Example: runner-agent runners watch --interval 2
    """
    with _client(config_path, api_url, log_level) as client:
        view = _FleetWatch(client, region_id, interval, json_output=json_output)
        view.run(count)


class _FleetWatch:
    """The fleet on a timer: redrawn in place on a terminal, appended elsewhere.

    A refresh that fails is shown, and the watch goes on.
    """

    def __init__(
        self,
        client: RunnersClient,
        region_id: str | None,
        interval: float,
        *,
        json_output: bool,
    ) -> None:
        self.client = client
        self.region_id = region_id
        self.interval = interval
        self.json_output = json_output
        self.redraw = sys.stdout.isatty() and not json_output
        self.last_table = ""

    def run(self, count: int | None) -> None:
        done = 0
        try:
            while count is None or done < count:
                if done:
                    time.sleep(self.interval)
                self.refresh()
                done += 1
        except KeyboardInterrupt:
            # Ctrl-C is how a watch ends: not an error.
            if self.redraw:
                sys.stdout.write("\n")

    def refresh(self) -> None:
        from runner_agent.errors import RateLimitedError, ServerError, TransportError

        at = datetime.now(UTC)
        try:
            runners = self.client.list_runners(self.region_id)
        except (TransportError, ServerError, RateLimitedError) as error:
            self._show_failure(at, str(error))
            return
        if self.json_output:
            self._line({"at": _iso(at), "runners": [r.to_json() for r in runners]})
            return
        self.last_table = fleet_table(runners, server_now(self.client))
        count = f"{len(runners)} runner{'' if len(runners) == 1 else 's'}"
        self._screen(f"{count} at {_clock(at)}, every {self.interval:g}s")

    def _show_failure(self, at: datetime, reason: str) -> None:
        if self.json_output:
            self._line({"at": _iso(at), "error": reason})
        else:
            self._screen(f"refresh failed at {_clock(at)}: {reason}")

    def _screen(self, header: str) -> None:
        if self.redraw:
            # Home the cursor and clear the screen, then draw.
            text = f"\x1b[H\x1b[2J{header} (Ctrl-C to stop)\n{self.last_table}\n"
        else:
            text = f"{header}\n{self.last_table}\n\n"
        sys.stdout.write(text)
        sys.stdout.flush()

    def _line(self, document: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
        sys.stdout.flush()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")
