"""The systemd notification protocol, spoken only when systemd listens.

systemd passes ``NOTIFY_SOCKET`` (a unix datagram socket, ``@`` for the
abstract namespace) to a ``Type=notify`` service, and ``WATCHDOG_USEC`` when
``WatchdogSec=`` is set. Without them every call here does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SystemdNotifier:
    """Sends ``READY=1``, ``STATUS=``, ``WATCHDOG=1`` and friends."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address
        self._socket: socket.socket | None = None
        self.watchdog_interval = _watchdog_interval(environ)
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def ready(self, status: str = "") -> None:
        self._send("READY=1", f"STATUS={status}" if status else "")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        if self.watchdog_interval is not None:
            self._send("WATCHDOG=1")

    def stopping(self, status: str = "") -> None:
        self._send("STOPPING=1", f"STATUS={status}" if status else "")

    def extend_timeout(self, seconds: float) -> None:
        """Ask for ``seconds`` more before systemd gives up on the stop."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, *lines: str) -> None:
        if not self._address:
            return
        message = "\n".join(line for line in lines if line).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto(message, self._address)
            self._failed = False
        except OSError as error:
            if not self._failed:
                log.warning("systemd_notify_failed", error=str(error))
            self._failed = True


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half the watchdog timeout, as systemd recommends; None without one."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
