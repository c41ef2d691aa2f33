"""What the daemon knows about itself, shared by its jobs and its endpoints.

The heartbeat and the state watch write here; ``/status``, ``/readyz``,
``/metrics``, systemd's status line and the demo read from here. All times
used for decisions are monotonic; wall-clock times are kept for display.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from runner_agent import __version__
from runner_agent.models import Runner
from runner_agent.state import Identity, Intent, utc_now

Mode = Literal[
    "starting",
    "beating",
    "retrying",
    "rate_limited",
    "auth_refused",
    "deleted",
    "stopping",
]

# A healthcheck is fresh while accepted within this many intervals.
FRESH_INTERVALS = 3


@dataclass(frozen=True)
class BeatRecord:
    """One healthcheck attempt."""

    at: str
    monotonic: float
    result: str
    latency_ms: float
    error: str = ""

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "at": self.at,
            "result": self.result,
            "latencyMs": round(self.latency_ms, 1),
        }
        if self.error:
            document["error"] = self.error
        return document


@dataclass
class AgentStatus:
    """The daemon's live record of itself; every method is thread-safe."""

    interval: float
    identity: Identity | None = None
    mode: Mode = "starting"
    last_beat: BeatRecord | None = None
    last_accepted: BeatRecord | None = None
    consecutive_failures: int = 0
    results: Counter[str] = field(default_factory=Counter)
    last_payload: dict[str, Any] | None = None
    runner: Runner | None = None
    runner_seen_at: str = ""
    intent: Intent = field(default_factory=Intent)
    host_report: Callable[[], dict[str, Any]] | None = None
    started_at: str = field(default_factory=utc_now)
    started_monotonic: float = field(default_factory=time.monotonic)
    # When the main loop means to wake next (it says so before each sleep).
    loop_due: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_beat(self, record: BeatRecord, payload: dict[str, Any] | None) -> None:
        with self._lock:
            self.last_beat = record
            self.results[record.result] += 1
            if payload is not None:
                self.last_payload = payload
            if record.accepted:
                self.last_accepted = record
                self.consecutive_failures = 0
            else:
                self.consecutive_failures += 1

    def record_runner(self, runner: Runner) -> Runner | None:
        """Keep the control plane's latest view; return the previous one."""
        with self._lock:
            previous, self.runner = self.runner, runner
            self.runner_seen_at = utc_now()
            return previous

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode

    def tick(self, back_in: float = 0.0) -> None:
        """The main loop is alive and will wake again within ``back_in`` seconds."""
        self.loop_due = time.monotonic() + back_in

    def loop_alive(self, grace: float, now: float | None = None) -> bool:
        """Whether the main loop woke when it meant to, give or take ``grace``."""
        now = time.monotonic() if now is None else now
        return now <= self.loop_due + grace

    def healthcheck_fresh(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self.last_accepted
        return (
            last is not None and now - last.monotonic <= FRESH_INTERVALS * self.interval
        )

    def readiness(self) -> tuple[bool, list[str]]:
        """Whether this runner can take work, and if not, why not."""
        reasons = []
        if self.identity is None:
            reasons.append("not registered")
        if self.mode in ("auth_refused", "deleted", "stopping"):
            reasons.append(f"agent is {self.mode.replace('_', ' ')}")
        if not self.healthcheck_fresh():
            reasons.append(
                f"no healthcheck accepted in the last {FRESH_INTERVALS} intervals"
            )
        runner = self.runner
        if runner is None:
            reasons.append("control plane state not known yet")
        elif runner.state != "ready":
            reasons.append(f"control plane says {runner.state}")
        return not reasons, reasons

    def to_json(self) -> dict[str, Any]:
        """The document served at ``/status`` (never the runner key)."""
        with self._lock:
            ready, reasons = self.readiness()
            runner = self.runner
            return {
                "version": __version__,
                "startedAt": self.started_at,
                "uptimeSeconds": round(time.monotonic() - self.started_monotonic, 1),
                "mode": self.mode,
                "ready": ready,
                "reasons": reasons,
                "intervalSeconds": self.interval,
                "identity": _identity_json(self.identity),
                "healthcheck": {
                    "last": self.last_beat.to_json() if self.last_beat else None,
                    "lastAccepted": self.last_accepted.to_json()
                    if self.last_accepted
                    else None,
                    "consecutiveFailures": self.consecutive_failures,
                    "results": dict(self.results),
                },
                "controlPlane": _runner_json(runner, self.runner_seen_at),
                "intent": self.intent.to_json(),
                "host": self.host_report() if self.host_report else None,
                "lastPayload": self.last_payload,
            }


def _identity_json(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "runnerId": identity.runner_id,
        "name": identity.name,
        "regionId": identity.region_id,
    }


def _runner_json(runner: Runner | None, seen_at: str) -> dict[str, Any] | None:
    if runner is None:
        return None
    return {
        "state": runner.state,
        "unschedulable": runner.unschedulable,
        "lastChecked": runner.last_checked,
        "seenAt": seen_at,
    }
