"""Cordon, drain, deregister and their reverses for this host's runner.

The API does not say whether a runner is draining, and a cordon placed by
the agent on stop must be told apart from one an operator placed, so every
change made here is also written to the state directory's intent record.
Draining is permanent retirement (a drained runner becomes decommissioned
and is never scheduled again); cordoning is the reversible pause.

:func:`deregister` retires the runner in steps that are each safe to
repeat (cordon, drain, wait for ``decommissioned``, delete, forget the
identity), so a run interrupted anywhere is finished by running it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from runner_agent.client import RunnersClient
from runner_agent.context import AgentContext
from runner_agent.errors import NotFoundError, RunnerAgentError, RunnerRetiredError
from runner_agent.models import Runner
from runner_agent.state import INTENT_FILE, Identity, Intent, StateDir, utc_now

log = structlog.get_logger(__name__)

Progress = Callable[[Runner, float], None]
Outcome = Literal["deleted", "already_deleted", "draining"]


class WaitTimeoutError(RunnerAgentError):
    """The runner did not reach the awaited state in time (exit code 1).

    ``runner`` is the last view of it, ``elapsed`` the seconds waited.
    """

    def __init__(self, message: str, *, runner: Runner, elapsed: float) -> None:
        self.runner = runner
        self.elapsed = elapsed
        super().__init__(message)


def cordon(
    client: RunnersClient, state: StateDir, runner_id: str, *, by_agent: bool = False
) -> Runner:
    """Make the runner unschedulable; ``by_agent`` marks it for automatic undo.

    The agent never takes over a cordon it did not place: when the runner
    is already unschedulable by someone else's hand, ``by_agent`` leaves it
    as it is, so the next start does not undo it. The agent's mark is
    written before the request: should its answer be lost, a retry finds
    the runner unschedulable and must still know the cordon is the agent's.
    An operator's cordon on top of the agent's makes it the operator's.
    """
    if by_agent:
        current = client.get_me()
        if current.unschedulable and not state.load_intent().cordoned_by_agent:
            log.info("runner_already_cordoned", runner_id=runner_id)
            return current
        state.update_intent(_mark_agent_cordon)
    runner = client.set_scheduling(runner_id, unschedulable=True)
    if not by_agent:
        state.update_intent(_forget_agent_cordon)
    log.info("runner_cordoned", runner_id=runner_id, by_agent=by_agent)
    return runner


def uncordon(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Make the runner schedulable again and forget any cordon of the agent."""
    runner = client.set_scheduling(runner_id, unschedulable=False)
    state.update_intent(_forget_agent_cordon)
    log.info("runner_uncordoned", runner_id=runner_id)
    return runner


def drain(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Start retiring the runner: it will become decommissioned for good."""
    runner = client.set_draining(runner_id, draining=True)
    state.update_intent(_remember_draining)
    log.info("runner_draining", runner_id=runner_id)
    return runner


def undrain(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Stop draining (only possible before the runner is decommissioned).

    A decommissioned runner stays so whatever the flag says: that is
    refused before anything is sent, and the record that this host retired
    it is kept.
    """
    current = client.get_runner(runner_id)
    if current.state == "decommissioned":
        raise RunnerRetiredError(
            f"runner {current.name} ({current.id}) is already decommissioned, which "
            "is final: to serve again, run runner-agent deregister, then register"
        )
    runner = client.set_draining(runner_id, draining=False)
    state.update_intent(_forget_draining)
    log.info("runner_undrained", runner_id=runner_id)
    return runner


def set_scheduling(
    context: AgentContext, runner_id: str, *, unschedulable: bool
) -> Runner:
    """Cordon or uncordon any runner; on this host's own, as :func:`cordon` does.

    The admin faces (``runners scheduling``, the MCP tool, the REST route)
    come through here, so the intent record stays right whichever face an
    operator uses on this host's runner.
    """
    client, state = context.client, context.state
    if context.own_runner_id() != runner_id:
        return client.set_scheduling(runner_id, unschedulable=unschedulable)
    if unschedulable:
        return cordon(client, state, runner_id)
    return uncordon(client, state, runner_id)


def set_draining(context: AgentContext, runner_id: str, *, draining: bool) -> Runner:
    """Start or stop draining any runner; on this host's own, as :func:`drain`."""
    client, state = context.client, context.state
    if context.own_runner_id() != runner_id:
        return client.set_draining(runner_id, draining=draining)
    if draining:
        return drain(client, state, runner_id)
    return undrain(client, state, runner_id)


def _mark_agent_cordon(intent: Intent) -> None:
    intent.cordoned_by_agent = True
    intent.cordoned_at = utc_now()


def _forget_agent_cordon(intent: Intent) -> None:
    intent.cordoned_by_agent = False
    intent.cordoned_at = ""


def _remember_draining(intent: Intent) -> None:
    if not intent.draining:
        intent.draining = True
        intent.draining_since = utc_now()


def _forget_draining(intent: Intent) -> None:
    intent.draining = False
    intent.draining_since = ""


def wait_for_state(
    fetch: Callable[[], Runner],
    target: str,
    *,
    timeout: float,
    poll: float = 2.0,
    first_poll: float | None = None,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    hint: str = "",
    sleep: Callable[[float], object] = time.sleep,
) -> Runner:
    """Poll ``fetch`` until the runner reaches ``target`` or time runs out.

    The pause between polls starts at ``first_poll`` (``poll`` if not given)
    and doubles up to ``poll``: a quick change is seen quickly, a long wait
    costs few requests. ``hint`` ends the timeout's message: what to do next.
    """
    started = time.monotonic()
    pause = min(first_poll or poll, poll)
    while True:
        runner = fetch()
        elapsed = time.monotonic() - started
        if on_progress is not None:
            on_progress(runner, elapsed)
        if runner.state == target:
            return runner
        if elapsed >= timeout or should_stop():
            message = (
                f"runner {runner.name} ({runner.id}) is still {runner.state}, "
                f"not {target}, after {elapsed:.0f}s"
            )
            raise WaitTimeoutError(
                f"{message}; {hint}" if hint else message,
                runner=runner,
                elapsed=elapsed,
            )
        sleep(min(pause, max(timeout - elapsed, 0.05)))
        pause = min(pause * 2, poll)


def wait_decommissioned(
    client: RunnersClient,
    runner_id: str,
    *,
    timeout: float,
    poll: float = 2.0,
    on_progress: Progress | None = None,
    hint: str = "",
    sleep: Callable[[float], object] = time.sleep,
) -> Runner:
    """Follow a draining runner until it is decommissioned (see wait_for_state)."""
    return wait_for_state(
        lambda: client.get_runner(runner_id),
        "decommissioned",
        timeout=timeout,
        poll=poll,
        first_poll=min(0.5, poll),
        on_progress=on_progress,
        hint=hint,
        sleep=sleep,
    )


@dataclass(frozen=True)
class Deregistration:
    """What :func:`deregister` did, and the last view of the runner."""

    outcome: Outcome
    runner_id: str
    name: str
    runner: Runner | None = None


def deregister(
    client: RunnersClient,
    state: StateDir,
    identity: Identity,
    *,
    wait: bool = True,
    timeout: float = 900.0,
    poll: float = 2.0,
    on_step: Callable[[str], None] = lambda _: None,
    on_progress: Progress | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> Deregistration:
    """Retire this host's runner: cordon, drain, wait, delete, forget.

    With ``wait`` false it stops once the runner is cordoned and draining;
    a later call goes on from there. A runner that no longer exists is
    simply forgotten. On timeout it raises :class:`WaitTimeoutError` and
    leaves the runner cordoned and draining.
    """
    runner_id = identity.runner_id
    try:
        runner = client.get_runner(runner_id)
        runner = _cordon_and_drain(client, state, runner, on_step)
        if not wait and runner.state != "decommissioned":
            return Deregistration("draining", runner_id, runner.name, runner)
        if runner.state != "decommissioned":
            runner = wait_decommissioned(
                client,
                runner_id,
                timeout=timeout,
                poll=poll,
                on_progress=on_progress,
                hint="it stays cordoned and draining: run runner-agent "
                "deregister again to go on waiting",
                sleep=sleep,
            )
        client.delete_runner(runner_id)
    except NotFoundError:
        forget(state)
        log.info("runner_already_deleted", runner_id=runner_id)
        return Deregistration("already_deleted", runner_id, identity.name)

    on_step("deleted")
    forget(state)
    log.info("runner_deregistered", runner_id=runner_id, name=runner.name)
    return Deregistration("deleted", runner_id, runner.name, runner)


def forget(state: StateDir) -> None:
    """Remove the identity and the intent: this host has no runner any more."""
    with state.lock():
        state.forget_identity()
        state.remove(INTENT_FILE)


def _cordon_and_drain(
    client: RunnersClient,
    state: StateDir,
    runner: Runner,
    on_step: Callable[[str], None],
) -> Runner:
    # Both requests are idempotent; the draining one is sent again on every
    # run because the API cannot say whether an earlier one arrived.
    if not runner.unschedulable:
        runner = cordon(client, state, runner.id)
    on_step("cordoned")
    if runner.state != "decommissioned":
        runner = drain(client, state, runner.id)
    on_step("draining")
    return runner
