"""``runner-agent runners ...``: the runners admin API on any runner.

Tables for people, ``--json`` for scripts. Keys are masked unless
``--show-secrets``. ``list``, ``get``, ``delete``, ``scheduling``,
``draining`` and ``watch`` (:mod:`runner_agent.cli.fleet_watch`) use the
organization key; ``full``, ``by-sandbox`` and ``by-snapshot-ref`` use
the proxy key (``DAYTONA_PROXY_API_KEY``). ``scheduling`` and
``draining`` on this host's own runner also keep the agent's intent
record, as ``cordon`` and ``drain`` do.
"""

from __future__ import annotations

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
    load,
    print_json,
    refuse_without_terminal,
    table,
)
from runner_agent.cli.flags import flags

if TYPE_CHECKING:
    from runner_agent.client import RunnersClient
    from runner_agent.context import AgentContext
    from runner_agent.models import Runner, RunnerFull

app = typer.Typer(
    help="The runners admin API: list, inspect, cordon, drain, delete any runner.\n\n"
    "Example: runner-agent runners list --region-id 0b9e...",
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


def fleet_client(
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
    with fleet_client(config_path, api_url, log_level) as client:
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
    with fleet_client(config_path, api_url, log_level) as client:
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
    with fleet_client(config_path, api_url, log_level) as client:
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
    with fleet_client(config_path, api_url, log_level) as client:
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
    with fleet_client(config_path, api_url, log_level) as client:
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
    with fleet_client(config_path, api_url, log_level) as client:
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
