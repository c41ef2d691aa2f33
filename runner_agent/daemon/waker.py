"""Waking the main thread from a signal handler, safely.

A signal handler must not take a lock that the thread it interrupted may
hold, and ``threading.Event.set`` does take one: setting an event from a
handler can deadlock the main thread. Handlers therefore only set plain
flags and write a byte to a pipe; the main thread sleeps in ``select`` on
that pipe and turns the flags into events in its normal context.
"""

from __future__ import annotations

import contextlib
import os
import select


class Waker:
    """A pipe the main thread sleeps on and anyone may poke."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def wake(self) -> None:
        """Interrupt the current or next :meth:`sleep` (async-signal-safe)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b"\0")

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, less if woken."""
        if seconds > 0:
            with contextlib.suppress(InterruptedError):
                select.select([self._read], [], [], seconds)
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read, 512):
                pass

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
