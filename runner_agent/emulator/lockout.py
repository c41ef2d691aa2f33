"""The lock-out of clients that keep sending refused keys.

The control plane rate-limits failed authentication: a client retrying fast
with a wrong key locks itself out for a while. The emulator reproduces that
when ``auth_failure_limit`` is set: once that many 401 answers fall within
``auth_failure_window`` seconds, every request gets 429 until the oldest
of them leaves the window.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

__all__ = ["AuthLockout"]


class AuthLockout:
    """Counts refused keys over a sliding window; thread-safe."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: deque[float] = deque()

    def note_failure(self) -> None:
        """Count one refused key."""
        with self._lock:
            self._failures.append(self._clock())

    def remaining(self) -> float:
        """Seconds a client must still wait; 0 when it is not locked out."""
        with self._lock:
            now = self._clock()
            while self._failures and self._failures[0] <= now - self.window:
                self._failures.popleft()
            if self.limit <= 0 or len(self._failures) < self.limit:
                return 0.0
            return self._failures[0] + self.window - now

    def clear(self) -> None:
        """Forget every failure."""
        with self._lock:
            self._failures.clear()
