"""The signals of a run: stop (SIGTERM, SIGINT), stop at once, reload (SIGHUP).

Handlers only set plain flags and wake the main thread through the
:class:`~runner_agent.daemon.waker.Waker`; the main thread turns the flags
into events when it wakes, in its normal context, where taking a lock is
safe. Handlers are installed for the run and the previous ones restored
after it.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from runner_agent.daemon.waker import Waker

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunSignals:
    """What the signals asked for, and the main thread's interruptible sleep.

    ``stop_requested`` is set by a first stop signal or by
    :meth:`request_stop` (from any thread); ``force_exit`` by a second stop
    signal: abandon what still runs.
    """

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.force_exit = threading.Event()
        self._stop_signalled = False
        self._force_signalled = False
        self._reload_signalled = False
        self._waker = Waker()
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Take over the stop and reload signals (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (*_STOP_SIGNALS, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def request_stop(self) -> None:
        """Ask the main thread to stop, from any thread."""
        self.stop_requested.set()
        self._waker.wake()

    def wake(self) -> None:
        """End the main thread's current sleep early, from any thread."""
        self._waker.wake()

    def take_reload(self) -> bool:
        """Whether a SIGHUP arrived since the last call."""
        asked, self._reload_signalled = self._reload_signalled, False
        return asked

    def sleep(self, seconds: float) -> None:
        """Sleep in the main thread, waking early for signals and stops."""
        self._waker.sleep(seconds)
        if self._stop_signalled:
            self.stop_requested.set()
        if self._force_signalled:
            self.force_exit.set()

    def close(self) -> None:
        self._waker.close()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_signalled = True
        elif self._stop_signalled or self.stop_requested.is_set():
            self._force_signalled = True
        else:
            self._stop_signalled = True
        self._waker.wake()
