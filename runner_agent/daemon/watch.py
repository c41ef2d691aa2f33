"""The state watch: read this runner back and notice what changed.

The control plane decides the runner's state (ready, unresponsive,
decommissioned) and whether it is schedulable; the agent learns it by
reading ``GET /runners/me`` on its own interval. Each change is logged once
with the old and new values and handed to the hooks. A failed read is
retried as a failed beat is (:class:`~.heartbeat.BeatPolicy`): soon with
backoff, not before a 429's ``Retry-After``, slowly after a refused key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import BeatPolicy, classify
from runner_agent.daemon.hooks import Hooks
from runner_agent.daemon.status import AgentStatus
from runner_agent.models import Runner

log = structlog.get_logger(__name__)

OPERATION = "runners_me"


class StateWatch:
    """Polls ``/runners/me`` and reports changes of state and scheduling.

    ``on_request`` gets each read's operation name and duration in seconds,
    answered or not.
    """

    def __init__(
        self,
        client: RunnersClient,
        status: AgentStatus,
        hooks: Hooks,
        policy: BeatPolicy,
        *,
        on_deleted: Callable[[], None],
        on_decommissioned: Callable[[], None],
        on_wrong_route: Callable[[errors.NoSuchRouteError], None],
        on_request: Callable[[str, float], None] | None = None,
    ) -> None:
        self.client = client
        self.status = status
        self.hooks = hooks
        self.policy = policy
        self.on_deleted = on_deleted
        self.on_decommissioned = on_decommissioned
        self.on_wrong_route = on_wrong_route
        self.on_request = on_request
        self.failures = FailureLog("state_watch")

    def poll(self) -> float | None:
        """Read the runner once; return the delay before the next read."""
        started = time.monotonic()
        try:
            runner = self.client.get_me()
        except errors.NotFoundError:
            self.on_deleted()
            return None
        except errors.NoSuchRouteError as error:
            self.on_wrong_route(error)
            return None
        except errors.RunnerAgentError as error:
            self.failures.failed(classify(error), str(error))
            return self.policy.after_failure(error, self.failures.count)
        finally:
            if self.on_request is not None:
                self.on_request(OPERATION, time.monotonic() - started)
        self.failures.succeeded()
        self._compare(self.status.record_runner(runner), runner)
        return self.policy.regular()

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
