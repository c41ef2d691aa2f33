"""Undoing, at start, the cordon the agent placed when it last stopped.

With ``lifecycle.on_stop = "cordon"`` the agent marks the runner
unschedulable on its way down and remembers that it did so; once back, it
makes the runner schedulable again. A cordon an operator placed is never
undone. Until the control plane takes the uncordon it is retried as a
failed beat is (backoff, a 429's ``Retry-After``, the slow interval after a
refused key), and logged as every failing operation is: once when it starts
failing, as a summary at most once a minute, once when it recovers.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from runner_agent import errors, lifecycle
from runner_agent.context import AgentContext
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import BeatPolicy, classify, retry_policy

log = structlog.get_logger(__name__)

# The slowest pace of the retries while the control plane refuses.
UNDO_INTERVAL = 30.0


class UndoCordon:
    """The self-paced job that uncordons the runner the agent cordoned."""

    def __init__(
        self,
        context: AgentContext,
        runner_id: str,
        *,
        on_done: Callable[[], None],
        on_wrong_route: Callable[[errors.NoSuchRouteError], None],
    ) -> None:
        self.context = context
        self.runner_id = runner_id
        self.on_done = on_done
        self.on_wrong_route = on_wrong_route
        self.failures = FailureLog("undo_cordon")

    @property
    def policy(self) -> BeatPolicy:
        # Read at each run, so a reloaded auth_retry_interval applies.
        return retry_policy(UNDO_INTERVAL, self.context.config.healthcheck)

    def run(self) -> float | None:
        """Try once; return the delay before the next try, None when done."""
        intent = self.context.state.load_intent()
        if not intent.cordoned_by_agent:
            self.on_done()
            return None
        try:
            lifecycle.uncordon(self.context.client, self.context.state, self.runner_id)
        except errors.NoSuchRouteError as error:
            self.on_wrong_route(error)
            return None
        except errors.NotFoundError:
            # The runner is gone: the heartbeat says so, nothing is left to undo.
            self.on_done()
            return None
        except errors.RunnerAgentError as error:
            self.failures.failed(classify(error), str(error))
            return self.policy.after_failure(error, self.failures.count)
        self.failures.succeeded()
        log.info("agent_cordon_undone", cordoned_at=intent.cordoned_at)
        self.on_done()
        return None
