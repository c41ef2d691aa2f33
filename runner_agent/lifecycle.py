"""Cordon, drain and their reverses for this host's runner.

The API does not say whether a runner is draining, and a cordon placed by
the agent on stop must be told apart from one an operator placed, so every
change made here is also written to the state directory's intent record.
Draining is permanent retirement (a drained runner becomes decommissioned
and is never scheduled again); cordoning is the reversible pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from runner_agent.client import RunnersClient
from runner_agent.errors import ApiTimeoutError
from runner_agent.models import Runner
from runner_agent.state import StateDir, utc_now

log = structlog.get_logger(__name__)


def cordon(
    client: RunnersClient, state: StateDir, runner_id: str, *, by_agent: bool = False
) -> Runner:
    """Make the runner unschedulable; ``by_agent`` marks it for automatic undo."""
    runner = client.set_scheduling(runner_id, unschedulable=True)
    intent = state.load_intent()
    if by_agent or intent.cordoned_by_agent:
        intent.cordoned_by_agent = by_agent
        intent.cordoned_at = utc_now() if by_agent else ""
        state.save_intent(intent)
    log.info("runner_cordoned", runner_id=runner_id, by_agent=by_agent)
    return runner


def uncordon(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Make the runner schedulable again and forget any cordon of the agent."""
    runner = client.set_scheduling(runner_id, unschedulable=False)
    intent = state.load_intent()
    if intent.cordoned_by_agent:
        intent.cordoned_by_agent = False
        intent.cordoned_at = ""
        state.save_intent(intent)
    log.info("runner_uncordoned", runner_id=runner_id)
    return runner


def drain(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Start retiring the runner: it will become decommissioned for good."""
    runner = client.set_draining(runner_id, draining=True)
    intent = state.load_intent()
    if not intent.draining:
        intent.draining = True
        intent.draining_since = utc_now()
        state.save_intent(intent)
    log.info("runner_draining", runner_id=runner_id)
    return runner


def undrain(client: RunnersClient, state: StateDir, runner_id: str) -> Runner:
    """Stop draining (only useful before the runner is decommissioned)."""
    runner = client.set_draining(runner_id, draining=False)
    intent = state.load_intent()
    if intent.draining:
        intent.draining = False
        intent.draining_since = ""
        state.save_intent(intent)
    log.info("runner_undrained", runner_id=runner_id)
    return runner


def wait_for_state(
    fetch: Callable[[], Runner],
    target: str,
    *,
    timeout: float,
    poll: float = 2.0,
    on_progress: Callable[[Runner, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], object] = time.sleep,
) -> Runner:
    """Poll ``fetch`` until the runner reaches ``target`` or time runs out."""
    started = time.monotonic()
    while True:
        runner = fetch()
        elapsed = time.monotonic() - started
        if on_progress is not None:
            on_progress(runner, elapsed)
        if runner.state == target:
            return runner
        if elapsed >= timeout or should_stop():
            raise ApiTimeoutError(
                f"runner {runner.id} is {runner.state}, not {target}, "
                f"after {elapsed:.0f}s",
                operation=f"wait for {target}",
            )
        sleep(min(poll, max(timeout - elapsed, 0.05)))
