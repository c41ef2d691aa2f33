"""Injected faults and the log of requests received.

A fault is declared through the control surface as JSON::

    {"path": "/runners/healthcheck", "method": "POST", "count": 2,
     "status": 503}

``path`` is matched against the request path after ``/api`` (without the
query), exactly or, when it ends with ``*``, as a prefix. ``method`` is
optional. The fault applies to the next ``count`` matching requests (1 by
default, -1 until cleared). Its effects, in the order they happen:

``delay``       seconds to wait before handling the request;
``drop``        close the connection without an answer, before handling;
``status``      answer this status with the standard error body instead of
                handling (``message`` to choose its text, ``retryAfter``
                seconds for the ``Retry-After`` header, e.g. with 429);
``delayAfter``  seconds to wait after the request was applied, before the
                answer goes out (an answer slow enough to time out);
``dropAfter``   apply the request, then close the connection without the
                answer (an answer lost in flight).

When several faults match, the one injected first applies.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from runner_agent.wsgi import HttpError

__all__ = ["Fault", "FaultBoard", "RequestLog"]

_FAULT_FIELDS = frozenset(
    {
        "path",
        "method",
        "count",
        "status",
        "message",
        "retryAfter",
        "delay",
        "delayAfter",
        "drop",
        "dropAfter",
    }
)


@dataclass
class Fault:
    """One injected fault and how many more requests it applies to."""

    id: str
    path: str
    method: str | None
    remaining: int
    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    delay_after: float = 0.0
    drop: bool = False
    drop_after: bool = False

    @classmethod
    def from_json(cls, spec: Any) -> Fault:
        """Build a fault from its JSON declaration; 400 when it is unusable."""
        if not isinstance(spec, dict):
            raise HttpError(400, "A fault must be a JSON object")
        unknown = sorted(set(spec) - _FAULT_FIELDS)
        if unknown:
            raise HttpError(400, f"Unknown fault field(s): {', '.join(unknown)}")
        fault = cls(
            id=str(uuid.uuid4()),
            path=_text(spec, "path", required=True) or "",
            method=(_text(spec, "method") or "").upper() or None,
            remaining=_count(spec.get("count", 1)),
            status=_status(spec.get("status")),
            message=_text(spec, "message"),
            retry_after=_seconds(spec, "retryAfter"),
            delay=_seconds(spec, "delay") or 0.0,
            delay_after=_seconds(spec, "delayAfter") or 0.0,
            drop=_flag(spec, "drop"),
            drop_after=_flag(spec, "dropAfter"),
        )
        effects = (fault.status, fault.delay, fault.delay_after, fault.drop)
        if not any(effects) and not fault.drop_after:
            raise HttpError(
                400, "A fault needs status, delay, delayAfter, drop or dropAfter"
            )
        return fault

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request for ``method path``."""
        if self.method is not None and self.method != method:
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def error(self) -> HttpError:
        """The error this fault answers with (it must have a status)."""
        status = self.status or 500
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = _header_seconds(self.retry_after)
        message = self.message or f"Injected fault: {HTTPStatus(status).phrase}"

        return HttpError(status, message, headers=headers)

    def to_json(self) -> dict[str, Any]:
        """The declaration as the control surface lists it."""
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "count": self.remaining,
            "status": self.status,
            "message": self.message,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "delayAfter": self.delay_after,
            "drop": self.drop,
            "dropAfter": self.drop_after,
        }


def _text(spec: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"Fault field {key} must be a non-empty string")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(400, "Fault field count must be an integer")
    if value == 0 or value < -1:
        raise HttpError(400, "Fault field count must be positive, or -1 for always")
    return value


def _status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(400, "Fault field status must be an integer")
    if not 400 <= value <= 599 or value not in HTTPStatus._value2member_map_:
        raise HttpError(400, "Fault field status must be a 4xx or 5xx HTTP status")
    return value


def _seconds(spec: dict[str, Any], key: str) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise HttpError(400, f"Fault field {key} must be a number of seconds >= 0")
    return float(value)


def _flag(spec: dict[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise HttpError(400, f"Fault field {key} must be a boolean")
    return value


def _header_seconds(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else str(seconds)


class FaultBoard:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Put ``fault`` in force."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, used up by one; ``None`` if none."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining > 0:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def entries(self) -> list[dict[str, Any]]:
        """The faults in force, as the control surface lists them."""
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()


class RequestLog:
    """The last requests received by the API, newest last; thread-safe."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._sequence = 0

    def append(self, entry: dict[str, Any]) -> None:
        """Record one request; the oldest falls out when the log is full."""
        with self._lock:
            self._sequence += 1
            self._entries.append({"seq": self._sequence, **entry})

    def entries(self) -> list[dict[str, Any]]:
        """A copy of the log."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Empty the log."""
        with self._lock:
            self._entries.clear()
