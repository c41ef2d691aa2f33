"""What the daemon does to its runner before it stops (``lifecycle.on_stop``).

``cordon`` pauses scheduling and remembers that the agent did it, so the
next start undoes it; an operator's own cordon is never undone. ``drain``
is for hosts that retire for good: the runner is set draining and followed
to ``decommissioned`` while the heartbeat keeps beating, within
``lifecycle.drain_timeout``. A second signal abandons either.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from runner_agent import errors, lifecycle
from runner_agent.context import AgentContext
from runner_agent.daemon.sdnotify import SystemdNotifier
from runner_agent.daemon.status import AgentStatus
from runner_agent.models import Runner

log = structlog.get_logger(__name__)

DRAIN_POLL = 2.0


def undo_agent_cordon(context: AgentContext, runner_id: str) -> bool:
    """Uncordon if, and only if, the agent cordoned on its last stop.

    Returns False when it should be tried again later.
    """
    intent = context.state.load_intent()
    if not intent.cordoned_by_agent:
        return True
    try:
        lifecycle.uncordon(context.client, context.state, runner_id)
    except errors.RunnerAgentError as error:
        log.warning("uncordon_failed", error=str(error))
        return False
    log.info("agent_cordon_undone", cordoned_at=intent.cordoned_at)
    return True


def run_stop_action(
    context: AgentContext,
    status: AgentStatus,
    notifier: SystemdNotifier,
    runner_id: str,
    *,
    abandoned: Callable[[], bool],
    sleep: Callable[[float], None],
) -> None:
    """Carry out ``lifecycle.on_stop`` within its deadline."""
    action = context.config.lifecycle.on_stop
    if action == "none":
        return
    log.info("stop_action_started", action=action)
    notifier.extend_timeout(context.config.lifecycle.stop_timeout)
    try:
        if action == "cordon":
            lifecycle.cordon(context.client, context.state, runner_id, by_agent=True)
            notifier.status("cordoned; stopping")
        else:
            _drain_and_follow(context, status, notifier, runner_id, abandoned, sleep)
    except errors.RunnerAgentError as error:
        log.error("stop_action_failed", action=action, error=str(error))
        return
    log.info("stop_action_done", action=action)


def _drain_and_follow(
    context: AgentContext,
    status: AgentStatus,
    notifier: SystemdNotifier,
    runner_id: str,
    abandoned: Callable[[], bool],
    sleep: Callable[[float], None],
) -> None:
    timeout = context.config.lifecycle.drain_timeout
    lifecycle.drain(context.client, context.state, runner_id)
    last_log = 0.0

    def progress(runner: Runner, elapsed: float) -> None:
        nonlocal last_log
        status.record_runner(runner)
        notifier.extend_timeout(DRAIN_POLL * 3 + context.config.healthcheck.timeout)
        notifier.status(f"draining: {runner.state} after {elapsed:.0f}s")
        if time.monotonic() - last_log >= 30 or runner.state == "decommissioned":
            last_log = time.monotonic()
            log.info(
                "drain_progress", state=runner.state, elapsed_seconds=round(elapsed)
            )

    lifecycle.wait_for_state(
        context.client.get_me,
        "decommissioned",
        timeout=timeout,
        poll=DRAIN_POLL,
        on_progress=progress,
        should_stop=abandoned,
        sleep=sleep,
    )
