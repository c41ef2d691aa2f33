"""Logging a run of failures without a line per attempt.

A failing operation is logged once when it starts failing, then as a summary
(count, duration, last error) at most once per ``summary_every`` seconds,
and once when it recovers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class FailureLog:
    """Tracks one operation's current run of failures."""

    def __init__(
        self,
        operation: str,
        *,
        summary_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.operation = operation
        self.summary_every = summary_every
        self._clock = clock
        self.count = 0
        self._since = 0.0
        self._last_summary = 0.0
        self._last_error = ""

    @property
    def failing(self) -> bool:
        return self.count > 0

    def failed(self, result: str, error: str) -> None:
        now = self._clock()
        self.count += 1
        self._last_error = error
        if self.count == 1:
            self._since = self._last_summary = now
            log.warning(
                "operation_failing",
                operation=self.operation,
                result=result,
                error=error,
            )
        elif now - self._last_summary >= self.summary_every:
            self._last_summary = now
            log.warning(
                "operation_still_failing",
                operation=self.operation,
                failures=self.count,
                for_seconds=round(now - self._since, 1),
                last_result=result,
                last_error=error,
            )

    def succeeded(self) -> None:
        if self.count:
            log.info(
                "operation_recovered",
                operation=self.operation,
                failures=self.count,
                after_seconds=round(self._clock() - self._since, 1),
                last_error=self._last_error,
            )
        self.count = 0
        self._last_error = ""
