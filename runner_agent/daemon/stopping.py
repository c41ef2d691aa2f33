"""What the daemon does to its runner before it stops (``lifecycle.on_stop``).

``cordon`` pauses scheduling and remembers that the agent did it, so the
next start undoes it; a cordon an operator placed is left as it is.
``drain`` is for hosts that retire for good: the runner is set draining
and followed to ``decommissioned`` while the heartbeat keeps beating.

The action runs in a worker thread and the main thread waits for it, so a
second SIGTERM or SIGINT stops the agent at once, even while a request
hangs. A request that fails for a reason that may heal (no answer, a 5xx,
a 429) is tried again with short backoff; ``lifecycle.stop_timeout`` is the
deadline of the whole action (following a drain has
``lifecycle.drain_timeout`` more), after which the agent gives up with one
error line and goes on stopping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from runner_agent import errors, lifecycle
from runner_agent.context import AgentContext
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import TRANSIENT, classify, retry_policy
from runner_agent.daemon.sdnotify import SystemdNotifier
from runner_agent.daemon.status import AgentStatus
from runner_agent.models import Runner

log = structlog.get_logger(__name__)

T = TypeVar("T")

DRAIN_POLL = 2.0
# The longest pause between two tries of a request.
RETRY_INTERVAL = 5.0
# The least time left for a last try before the deadline.
LAST_TRY = 0.5
# What systemd is asked to wait beyond the deadline: the rest of the stop.
STOP_MARGIN = 10.0


class StopAction:
    """``lifecycle.on_stop`` for one stop, read when the stop begins."""

    def __init__(
        self,
        context: AgentContext,
        status: AgentStatus,
        notifier: SystemdNotifier,
        runner_id: str,
    ) -> None:
        self.context = context
        self.status = status
        self.notifier = notifier
        self.runner_id = runner_id
        self.action = context.config.lifecycle.on_stop
        self.failures = FailureLog("stop_action")
        self._abandoned = threading.Event()
        self._finished = threading.Event()
        self._error: errors.RunnerAgentError | None = None
        self._attempts = 0

    def carry_out(
        self,
        *,
        wait: Callable[[float], None],
        forced: Callable[[], bool],
        wake: Callable[[], None],
    ) -> None:
        """Run the action and wait for it, its deadline or a forced stop.

        ``wait`` sleeps the calling thread, waking early on ``wake`` (called
        from the worker when it is done) or on a signal.
        """
        if self.action == "none":
            return
        lifecycle_config = self.context.config.lifecycle
        budget = lifecycle_config.stop_timeout
        if self.action == "drain":
            budget += lifecycle_config.drain_timeout
        started = time.monotonic()
        log.info("stop_action_started", action=self.action)
        self.notifier.extend_timeout(budget + STOP_MARGIN)
        worker = threading.Thread(
            target=self._work, args=(started, wake), name="stop-action", daemon=True
        )
        worker.start()

        while not self._finished.is_set():
            if forced():
                self._abandon(started)
                return
            remaining = started + budget - time.monotonic()
            if remaining <= 0:
                self._abandoned.set()
                self._report(started, late=True)
                return
            wait(remaining)
        self._report(started)

    def _work(self, started: float, wake: Callable[[], None]) -> None:
        timeouts = self.context.config.lifecycle
        request_deadline = started + timeouts.stop_timeout
        try:
            if self.action == "cordon":
                self._retrying(self._cordon, request_deadline)
                self.notifier.status("cordoned; stopping")
            else:
                self._retrying(self._drain, request_deadline)
                deadline = request_deadline + timeouts.drain_timeout
                self._retrying(lambda: self._follow(deadline), deadline)
        except errors.RunnerAgentError as error:
            self._error = error
        except Exception as error:
            # The boundary of the worker thread: log with the traceback.
            log.exception("stop_action_crashed", action=self.action)
            self._error = errors.RunnerAgentError(f"crashed: {error!r}")
        finally:
            self._finished.set()
            wake()

    def _retrying(self, attempt: Callable[[], T], deadline: float) -> T:
        """``attempt`` until it succeeds, fails for good, or time runs out."""
        while True:
            self._attempts += 1
            try:
                result = attempt()
            except errors.RunnerAgentError as error:
                reason = classify(error)
                if self._abandoned.is_set() or reason not in TRANSIENT:
                    raise
                self.failures.failed(reason, str(error))
                room = deadline - LAST_TRY - time.monotonic()
                if room <= 0:
                    raise
                # The pause is cut short so that one last try fits in.
                self._pause(min(self._delay(error), room))
                if self._abandoned.is_set():
                    raise
                continue
            self.failures.succeeded()
            return result

    def _delay(self, error: errors.RunnerAgentError) -> float:
        policy = retry_policy(RETRY_INTERVAL, self.context.config.healthcheck)
        return policy.after_failure(error, self.failures.count)

    def _cordon(self) -> Runner:
        return lifecycle.cordon(
            self.context.client, self.context.state, self.runner_id, by_agent=True
        )

    def _drain(self) -> Runner:
        return lifecycle.drain(self.context.client, self.context.state, self.runner_id)

    def _follow(self, deadline: float) -> Runner:
        last_log = 0.0

        def progress(runner: Runner, elapsed: float) -> None:
            nonlocal last_log
            self.status.record_runner(runner)
            self.notifier.extend_timeout(
                DRAIN_POLL * 3 + self.context.config.healthcheck.timeout
            )
            self.notifier.status(f"draining: {runner.state} after {elapsed:.0f}s")
            if time.monotonic() - last_log >= 30 or runner.state == "decommissioned":
                last_log = time.monotonic()
                log.info(
                    "drain_progress", state=runner.state, elapsed_seconds=round(elapsed)
                )

        return lifecycle.wait_for_state(
            self.context.client.get_me,
            "decommissioned",
            timeout=max(0.0, deadline - time.monotonic()),
            poll=DRAIN_POLL,
            on_progress=progress,
            should_stop=self._abandoned.is_set,
            sleep=self._pause,
        )

    def _pause(self, seconds: float) -> None:
        self._abandoned.wait(seconds)

    def _report(self, started: float, *, late: bool = False) -> None:
        """The one line that says how the action ended."""
        seconds = round(time.monotonic() - started, 1)
        error = f"not done within {_DEADLINES[self.action]}" if late else self._error
        if error is None:
            log.info("stop_action_done", action=self.action, seconds=seconds)
            return
        log.error(
            "stop_action_failed",
            action=self.action,
            error=str(error),
            attempts=self._attempts,
            seconds=seconds,
            hint=_HINTS[self.action],
        )

    def _abandon(self, started: float) -> None:
        """Leave the worker to itself on a second signal; it stays quiet."""
        self._abandoned.set()
        log.warning(
            "stop_action_abandoned",
            action=self.action,
            reason="a second stop signal",
            seconds=round(time.monotonic() - started, 1),
        )


_DEADLINES = {
    "cordon": "lifecycle.stop_timeout",
    "drain": "lifecycle.stop_timeout and lifecycle.drain_timeout",
}
_HINTS = {
    "cordon": "the runner may still be schedulable: runner-agent cordon",
    "drain": "the runner may not be draining or decommissioned yet: "
    "runner-agent drain --wait",
}
