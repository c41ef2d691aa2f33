"""The state watch: read this runner back and notice what changed.

The control plane decides the runner's state (ready, unresponsive,
decommissioned) and whether it is schedulable; the agent learns it by
reading ``GET /runners/me`` on its own interval. Each change is logged once
with the old and new values and handed to the hooks.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import structlog

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import classify
from runner_agent.daemon.hooks import Hooks
from runner_agent.daemon.status import AgentStatus
from runner_agent.models import Runner

log = structlog.get_logger(__name__)


class StateWatch:
    """Polls ``/runners/me`` and reports changes of state and scheduling."""

    def __init__(
        self,
        client: RunnersClient,
        status: AgentStatus,
        hooks: Hooks,
        *,
        interval: float,
        auth_interval: float,
        on_deleted: Callable[[], None],
        on_decommissioned: Callable[[], None],
    ) -> None:
        self.client = client
        self.status = status
        self.hooks = hooks
        self.interval = interval
        self.auth_interval = auth_interval
        self.on_deleted = on_deleted
        self.on_decommissioned = on_decommissioned
        self.failures = FailureLog("state_watch")

    def poll(self) -> float | None:
        """Read the runner once; return the delay before the next read."""
        try:
            runner = self.client.get_me()
        except errors.NotFoundError:
            self.on_deleted()
            return None
        except errors.RunnerAgentError as error:
            result = classify(error)
            self.failures.failed(result, str(error))
            if result in ("unauthorized", "forbidden", "missing_key"):
                return self.auth_interval
            return min(self.interval, 2.0 * self.failures.count) * random.uniform(
                0.8, 1.2
            )
        self.failures.succeeded()
        self._compare(self.status.record_runner(runner), runner)
        return self.interval * random.uniform(0.9, 1.1)

    def _compare(self, previous: Runner | None, current: Runner) -> None:
        if previous is None:
            log.info(
                "runner_state_seen",
                state=current.state,
                unschedulable=current.unschedulable,
            )
        elif (previous.state, previous.unschedulable) != (
            current.state,
            current.unschedulable,
        ):
            log.info(
                "runner_state_changed",
                old_state=previous.state,
                new_state=current.state,
                old_unschedulable=previous.unschedulable,
                new_unschedulable=current.unschedulable,
            )
            self.hooks.fire(
                "state_changed",
                {
                    "runner_id": current.id,
                    "runner_name": current.name,
                    "old_state": previous.state,
                    "new_state": current.state,
                    "old_unschedulable": str(previous.unschedulable).lower(),
                    "new_unschedulable": str(current.unschedulable).lower(),
                },
            )
        newly_decommissioned = current.state == "decommissioned" and (
            previous is None or previous.state != "decommissioned"
        )
        if newly_decommissioned:
            log.warning("runner_decommissioned", runner_id=current.id)
            self.hooks.fire(
                "decommissioned",
                {"runner_id": current.id, "runner_name": current.name},
            )
            self.on_decommissioned()
