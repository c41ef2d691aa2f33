"""One check's damped health: a flap does not flip what is reported.

A check turns unhealthy after ``failures_before_unhealthy`` failed runs in a
row and healthy again after ``successes_before_healthy`` passing runs in a
row. Until either threshold is first reached its health is unknown and it
is not reported at all.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from runner_agent.checks.probes import Outcome
from runner_agent.config.checks import CheckConfig

log = structlog.get_logger(__name__)


def seconds_ago(now: float, then: float | None) -> float | None:
    """Seconds from ``then`` to ``now``, to a tenth; None when ``then`` is None."""
    return None if then is None else round(now - then, 1)


class CheckState:
    """What is known about one check, updated from any thread."""

    def __init__(self, config: CheckConfig) -> None:
        self.config = config
        self.healthy: bool | None = None
        self.successes = 0
        self.failures = 0
        self.reason = ""
        self.running = False
        self.next_due = 0.0
        self.last: Outcome | None = None
        self.last_run: float | None = None
        self._lock = threading.Lock()

    def record(self, outcome: Outcome, *, damped: bool = True) -> None:
        """Take one run's outcome; ``damped=False`` takes it at face value."""
        with self._lock:
            self.last, self.last_run = outcome, time.monotonic()
            if outcome.ok:
                self.successes, self.failures = self.successes + 1, 0
            else:
                self.successes, self.failures = 0, self.failures + 1
                self.reason = outcome.reason
            before, self.healthy = self.healthy, self._judge(outcome, damped)
        if before != self.healthy:
            self._log_change(before)

    def service(self) -> dict[str, Any] | None:
        """The serviceHealth entry, or None while the health is unknown."""
        healthy = self.healthy
        if healthy is None:
            return None
        entry: dict[str, Any] = {"serviceName": self.config.name, "healthy": healthy}
        if not healthy:
            entry["errorReason"] = self.reason
        return entry

    def report(self, now: float) -> dict[str, Any]:
        last = self.last
        return {
            "name": self.config.name,
            "kind": self.config.kind,
            "target": self.config.target,
            "localOnly": self.config.local_only,
            "healthy": self.healthy,
            "consecutiveFailures": self.failures,
            "consecutiveSuccesses": self.successes,
            "lastResult": None if last is None else ("pass" if last.ok else "fail"),
            "lastReason": (last.reason or None) if last else None,
            "errorReason": self.reason if self.healthy is False else None,
            "lastDurationMs": None if last is None else round(last.duration_ms, 1),
            "lastRunSecondsAgo": seconds_ago(now, self.last_run),
        }

    def _judge(self, outcome: Outcome, damped: bool) -> bool | None:
        if not damped:
            return outcome.ok
        if self.failures >= self.config.failures_before_unhealthy:
            return False
        if self.successes >= self.config.successes_before_healthy:
            return True
        return self.healthy

    def _log_change(self, before: bool | None) -> None:
        name, local_only = self.config.name, self.config.local_only
        if self.healthy is False:
            log.warning(
                "check_failing",
                check=name,
                reason=self.reason,
                failures=self.failures,
                local_only=local_only,
            )
        elif before is False:
            log.info("check_recovered", check=name, local_only=local_only)
        else:
            log.debug("check_healthy", check=name)
