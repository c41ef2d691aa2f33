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
        self.drain()

    def fileno(self) -> int:
        """The end to wait on, for a thread that sleeps in its own selector."""
        return self._read

    def drain(self) -> None:
        """Take the pokes so far, so that the next wait sleeps again."""
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read, 512):
                pass

    def close(self) -> None:
        # Forget the descriptors first: a late poke must not write into
        # whatever file is opened next under the same number.
        fds, self._read, self._write = (self._read, self._write), -1, -1
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
