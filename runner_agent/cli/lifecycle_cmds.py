"""Cordon, uncordon, drain, undrain and deregister this host's runner.

Each command finds the runner through the stored identity (or
``DAYTONA_RUNNER_TOKEN``) and changes it with the organization key. Waiting
is shown on standard error by :class:`Follow`, so ``--json`` output on
standard output stays one document.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    LogLevel,
    StateDirOption,
    Yes,
    confirm,
    duration_option,
    echo,
    print_json,
)
from runner_agent.cli.fleet import age, seconds_since, server_now
from runner_agent.cli.this_runner import runner_gone_on_404, this_runner_config

if TYPE_CHECKING:
    from runner_agent.client import RunnersClient
    from runner_agent.config import Config
    from runner_agent.context import AgentContext
    from runner_agent.lifecycle import Deregistration
    from runner_agent.models import Runner
    from runner_agent.state import Identity, StateDir

Timeout = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="How long to wait: seconds, or 30s, 15m "
        "(default: lifecycle.drain_timeout, 15m).",
        show_default=False,
    ),
]
Change = Callable[["RunnersClient", "StateDir", str], "Runner"]

# A line for a log or a pipe at least this often while nothing changes.
QUIET_PROGRESS_EVERY = 30.0
# The control plane marks a runner unresponsive after 60 s without a
# healthcheck: a sandbox count older than that says nothing about now.
FRESH_HEALTHCHECK_LIMIT = 60.0


class Follow:
    """A runner followed while waiting, shown on standard error.

    On a terminal one line is redrawn in place; elsewhere (a pipe, a log) a
    line is written when the state or the sandbox count changes, and every
    30 seconds otherwise. The sandbox count comes from the runner's last
    healthcheck, so it is shown as unknown when that is older than
    ``fresh_for`` seconds by the clock ``now``.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        fresh_for: float = FRESH_HEALTHCHECK_LIMIT,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.now = now or (lambda: datetime.now(UTC))
        self.fresh_for = fresh_for
        self._seen: tuple[str, float | None] | None = None
        self._written_at = -math.inf
        self._open_line = False

    def __enter__(self) -> Follow:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end_line()
        self.stream.flush()

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def note(self, step: str) -> None:
        """One step done, on a line of its own."""
        self._end_line()
        self.stream.write(f"{self.label}: {step}\n")
        self.stream.flush()

    def __call__(self, runner: Runner, elapsed: float) -> None:
        checked = seconds_since(runner.last_checked, self.now())
        fresh = checked is not None and checked <= self.fresh_for
        line = (
            f"{self.label}: {runner.state}, "
            f"{started_sandboxes(runner, checked, fresh=fresh)}, "
            f"{elapsed:.0f}s elapsed"
        )
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
            self._open_line = True
        elif self._worth_a_line(runner.state, runner.started_sandboxes, fresh, elapsed):
            self.stream.write(line + "\n")
        self.stream.flush()

    def _worth_a_line(
        self, state: str, count: float | None, fresh: bool, elapsed: float
    ) -> bool:
        seen = (state, count if fresh else None)
        if seen == self._seen and elapsed - self._written_at < QUIET_PROGRESS_EVERY:
            return False
        self._seen = seen
        self._written_at = elapsed
        return True


def started_sandboxes(runner: Runner, checked: float | None, *, fresh: bool) -> str:
    """The started sandboxes of the runner's last healthcheck, in words.

    ``checked`` is the age of that healthcheck in seconds (None when there
    was none or its time is unreadable). A runner that never checked in, or
    stopped, reports 0 or an old count while it may hold sandboxes: that
    count is not shown.
    """
    if not runner.last_checked:
        return "sandboxes unknown (no healthcheck yet)"
    if not fresh:
        last = f", last {age(checked)} ago" if checked is not None else ""
        return f"sandboxes unknown (no recent healthcheck{last})"
    count = runner.started_sandboxes
    if count is None:
        return "started sandboxes unknown"
    return f"{count:g} started sandbox{'' if count == 1 else 'es'}"


def fresh_for(config: Config) -> float:
    """How old a healthcheck may be for its sandbox count to still count.

    Three of this agent's beats, so a late beat or two do not hide the
    count, and never more than the control plane's own 60 s.
    """
    return min(3 * config.healthcheck.interval, FRESH_HEALTHCHECK_LIMIT)


def follow(label: str, context: AgentContext) -> Follow:
    """A :class:`Follow` that ages healthchecks by the control plane's clock."""
    client = context.client
    return Follow(
        label, now=lambda: server_now(client), fresh_for=fresh_for(context.config)
    )


def wait_seconds(value: str | None, default: float) -> float:
    """A ``--timeout`` value in seconds; a bad one is a usage error."""
    if value is None:
        return default
    return duration_option("--timeout", value)


def need_organization_key(config: Config, command: str) -> None:
    """Fail before asking anything when the organization key is missing."""
    from runner_agent.errors import MissingCredentialError

    if not config.credentials.organization:
        raise MissingCredentialError(
            f"{command} needs the organization key: set DAYTONA_API_KEY "
            "or api_key_file in the configuration",
            key="api_key",
        )


def _change(config: Config, change: Change) -> tuple[Identity, Runner, dict[str, Any]]:
    from runner_agent.context import AgentContext

    context = AgentContext(config)
    try:
        with runner_gone_on_404(context):
            identity = context.identity()
            runner = change(context.client, context.state, identity.runner_id)
    finally:
        context.close()
    return identity, runner, context.state.load_intent().to_json()


def _report(
    runner: Runner, intent: dict[str, Any], json_output: bool, text: str
) -> None:
    """Print the JSON document, or the sentence."""
    if json_output:
        print_json({"runner": runner.to_json(), "intent": intent})
    else:
        echo(text)


def cordon(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Pause this runner: no new sandboxes are scheduled on it (reversible).

    Use it for maintenance and restarts; never drain for those.

    Example: runner-agent cordon
    """
    from runner_agent import lifecycle

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    _, runner, intent = _change(config, lifecycle.cordon)

    _report(
        runner,
        intent,
        json_output,
        f"Cordoned runner {runner.name} ({runner.id}): no new sandboxes are "
        "scheduled on it. Undo with: runner-agent uncordon",
    )


def uncordon(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Let the control plane schedule sandboxes on this runner again.

    Example: runner-agent uncordon
    """
    from runner_agent import lifecycle

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    _, runner, intent = _change(config, lifecycle.uncordon)

    _report(runner, intent, json_output, _uncordoned(runner))
    if not json_output and intent.get("draining") and not _retired(runner):
        echo("It is still draining, which retires it; runner-agent undrain stops that.")


def _retired(runner: Runner) -> bool:
    return runner.state == "decommissioned"


def _uncordoned(runner: Runner) -> str:
    name = f"{runner.name} ({runner.id})"
    if _retired(runner):
        return (
            f"Uncordoned runner {name}, but it is decommissioned, which is final: "
            "it takes no new sandboxes. To serve again, run runner-agent "
            "deregister, then register."
        )
    return f"Uncordoned runner {name}: it takes new sandboxes."


def drain(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Follow the runner until it is decommissioned."),
    ] = False,
    timeout: Timeout = None,
    yes: Yes = False,
    json_output: Json = False,
) -> None:
    """Retire this runner for good: draining ends in decommissioned, for ever.

    A decommissioned runner is never scheduled again and its healthchecks
    are ignored. For maintenance or a restart, cordon instead. Asks first
    on a terminal; --yes skips the question.

    Example: runner-agent drain --yes --wait --timeout 30m
    """
    from runner_agent import lifecycle
    from runner_agent.context import AgentContext

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    need_organization_key(config, "drain")
    limit = wait_seconds(timeout, config.lifecycle.drain_timeout)
    context = AgentContext(config)
    try:
        with runner_gone_on_404(context):
            identity = context.identity()
            confirm(
                f"Drain runner {identity.name or identity.runner_id}? It retires "
                "for good (decommissioned, never scheduled again; cordon is the "
                "pause)",
                yes=yes,
            )
            runner = lifecycle.drain(context.client, context.state, identity.runner_id)
            if wait:
                runner = _follow_drain(context, runner, limit)
    finally:
        context.close()

    intent = context.state.load_intent().to_json()
    _report(runner, intent, json_output, _drained(runner))
    if not json_output and runner.state == "decommissioned":
        echo("runner-agent deregister deletes it and forgets this host's identity.")


def _follow_drain(context: AgentContext, runner: Runner, limit: float) -> Runner:
    from runner_agent import lifecycle

    with _hint_on_interrupt("drain --wait"), follow("draining", context) as progress:
        return lifecycle.wait_decommissioned(
            context.client,
            runner.id,
            timeout=limit,
            on_progress=progress,
            hint="it stays draining: run runner-agent drain --wait again "
            "to go on following it",
        )


def _drained(runner: Runner) -> str:
    name = f"{runner.name} ({runner.id})"
    if runner.state == "decommissioned":
        return f"Runner {name} is decommissioned."
    return (
        f"Runner {name} is draining: it becomes decommissioned once it holds "
        "no live sandbox, and is never scheduled again."
    )


def undrain(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Stop draining this runner, if it is not decommissioned yet.

    Example: runner-agent undrain
    """
    from runner_agent import lifecycle

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    _, runner, intent = _change(config, lifecycle.undrain)

    _report(
        runner,
        intent,
        json_output,
        f"Runner {runner.name} ({runner.id}) is no longer draining.",
    )


def deregister(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="Cordon and drain, then stop; a later deregister finishes.",
        ),
    ] = False,
    timeout: Timeout = None,
    yes: Yes = False,
    json_output: Json = False,
) -> None:
    """Retire this host's runner: cordon, drain, wait, delete, forget it.

    Waits until the runner is decommissioned (no live sandbox left), then
    deletes it and removes the identity. Safe to run again after an
    interruption at any step: it goes on where it stopped. On timeout it
    exits 1 and the runner stays cordoned and draining. Asks first on a
    terminal; --yes skips the question.

    Example: runner-agent deregister --yes --timeout 30m
    """
    from runner_agent.context import AgentContext

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    need_organization_key(config, "deregister")
    limit = wait_seconds(timeout, config.lifecycle.drain_timeout)
    context = AgentContext(config)
    try:
        result = _deregister(context, yes=yes, wait=not no_wait, limit=limit)
    finally:
        context.close()

    if json_output:
        print_json(_deregistration_json(result))
    else:
        echo(_deregistered(result))


def _deregister(
    context: AgentContext, *, yes: bool, wait: bool, limit: float
) -> Deregistration | None:
    from runner_agent import lifecycle

    identity = _identity_or_none(context)
    if identity is None:
        return None
    confirm(
        f"Deregister runner {identity.name or identity.runner_id}? It is cordoned, "
        "drained and deleted for good",
        yes=yes,
    )
    with _hint_on_interrupt("deregister"), follow("deregister", context) as progress:
        return lifecycle.deregister(
            context.client,
            context.state,
            identity,
            wait=wait,
            timeout=limit,
            on_step=progress.note,
            on_progress=progress,
        )


@contextlib.contextmanager
def _hint_on_interrupt(command: str) -> Iterator[None]:
    """On Ctrl-C, say how to go on before the interruption is reported."""
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write(
            f"{command}: stopped; the runner keeps what was done so far: "
            f"run runner-agent {command} again to go on\n"
        )
        raise


def _identity_or_none(context: AgentContext) -> Identity | None:
    if context.state.load_identity() is None and not context.config.credentials.runner:
        return None
    return context.identity()


def _deregistration_json(result: Deregistration | None) -> dict[str, Any]:
    if result is None:
        return {"outcome": "not_registered", "runnerId": None, "name": None}
    return {
        "outcome": result.outcome,
        "runnerId": result.runner_id,
        "name": result.name,
        "runner": result.runner.to_json() if result.runner else None,
    }


def _deregistered(result: Deregistration | None) -> str:
    if result is None:
        return "This host has no runner identity: nothing to deregister."
    name = f"{result.name or 'runner'} ({result.runner_id})"
    if result.outcome == "already_deleted":
        return (
            f"Runner {name} no longer exists on the control plane; "
            "forgot this host's identity."
        )
    if result.outcome == "draining":
        return (
            f"Runner {name} is cordoned and draining. Run runner-agent deregister "
            "again to delete it once it is decommissioned."
        )
    return f"Deleted runner {name} and forgot this host's identity."
