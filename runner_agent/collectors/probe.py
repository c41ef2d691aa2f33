"""How each collector fares: how long it took, whether it failed, since when.

A :class:`Probe` wraps one collector. A failure is logged once when a
failure streak starts and once more when it ends, never on every beat, and
the caller gets the last good value back, so one failing collector never
empties the healthcheck.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog

from runner_agent.checks.state import seconds_ago
from runner_agent.errors import CollectionError
from runner_agent.reasons import short_reason

log = structlog.get_logger(__name__)

T = TypeVar("T")

# What a collector may raise when its source misbehaves: a kernel file that
# cannot be read or parsed, a daemon that does not answer.
FAILURES = (OSError, ValueError, LookupError, CollectionError)


class Probe(Generic[T]):
    """Runs one collector, times it, and keeps its last good value."""

    def __init__(self, name: str, initial: T) -> None:
        self.name = name
        self.value = initial
        self.runs = 0
        self.failures = 0
        self.error = ""
        self.duration_ns = 0
        self.last_ok: float | None = None
        self.last_run: float | None = None

    def measure(self, read: Callable[[], T]) -> T:
        """``read()``, or the last good value if it fails."""
        started = time.perf_counter_ns()
        try:
            value = read()
        except FAILURES as error:
            self.failed(started, error)
            return self.value
        self.succeeded(started)
        self.value = value
        return value

    def succeeded(self, started_ns: int) -> None:
        self._ran(started_ns)
        self.last_ok = self.last_run
        if self.failures:
            log.info("collector_recovered", collector=self.name, failures=self.failures)
            self.failures = 0
            self.error = ""

    def failed(self, started_ns: int, error: BaseException | str) -> None:
        self._ran(started_ns)
        self.error = short_reason(error)
        if not self.failures:
            log.warning("collector_failed", collector=self.name, error=self.error)
        self.failures += 1

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "ok": not self.failures and self.last_ok is not None,
            "runs": self.runs,
            "lastDurationMs": round(self.duration_ns / 1e6, 3),
            "lastRunSecondsAgo": seconds_ago(now, self.last_run),
            "lastSuccessSecondsAgo": seconds_ago(now, self.last_ok),
            "failures": self.failures,
            "error": self.error or None,
        }

    def _ran(self, started_ns: int) -> None:
        self.runs += 1
        self.duration_ns = time.perf_counter_ns() - started_ns
        self.last_run = time.monotonic()
