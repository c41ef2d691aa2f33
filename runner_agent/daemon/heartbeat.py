"""The healthcheck beat: measure, send, classify, decide when to beat next.

Daytona's control plane marks a runner unresponsive after 60 s without a
healthcheck. So a failed beat is retried well before the next regular one,
with capped, jittered exponential backoff; a 429 waits at least its
``Retry-After``; a refused key slows down to a long interval, because fast
retries with a bad key get the whole organisation rate-limited; and a
runner that no longer exists is not beaten at all.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.config import HealthcheckConfig
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.status import AgentStatus, BeatRecord
from runner_agent.state import utc_now

log = structlog.get_logger(__name__)

ACCEPTED = "accepted"
# A wrong api_url: the daemon stops (exit code 78) rather than retry.
NO_SUCH_ROUTE = "no_such_route"
# Refused keys: retried only slowly, since fast retries get the whole
# organisation rate-limited.
AUTH_REFUSED = ("unauthorized", "forbidden", "missing_key")
# What may heal by itself: worth retrying soon.
TRANSIENT = ("timeout", "unreachable", "rate_limited", "server_error")

_RESULTS: tuple[tuple[type[errors.RunnerAgentError], str], ...] = (
    (errors.ApiTimeoutError, "timeout"),
    (errors.UnreachableError, "unreachable"),
    (errors.RateLimitedError, "rate_limited"),
    (errors.UnauthorizedError, "unauthorized"),
    (errors.ForbiddenError, "forbidden"),
    (errors.NotFoundError, "deleted"),
    (errors.NoSuchRouteError, NO_SUCH_ROUTE),
    (errors.ServerError, "server_error"),
    (errors.InvalidResponseError, "invalid_response"),
    (errors.MissingCredentialError, "missing_key"),
    (errors.ApiError, "rejected"),
)


def classify(error: errors.RunnerAgentError) -> str:
    """A short, stable name for why a request failed."""
    for kind, result in _RESULTS:
        if isinstance(error, kind):
            return result
    return "failed"


@dataclass(frozen=True)
class BeatPolicy:
    """When to beat next, given how the last beat went."""

    interval: float
    jitter: float = 0.1
    auth_interval: float = 300.0

    @property
    def backoff_base(self) -> float:
        return min(1.0, self.interval / 10)

    def regular(self) -> float:
        """The interval, spread by ±jitter so a fleet does not beat in step."""
        return self.interval * random.uniform(1 - self.jitter, 1 + self.jitter)

    def first_offset(self) -> float:
        """A random start within one interval, after the beat at start-up."""
        return random.uniform(0, self.interval)

    def next_delay(
        self, result: str, failures: int, retry_after: float | None
    ) -> float:
        if result in (ACCEPTED, "rejected"):
            # A rejected body will not improve by retrying sooner.
            return self.regular()
        if result in AUTH_REFUSED:
            return self.auth_interval * random.uniform(1, 1 + self.jitter)
        backoff = self._backoff(failures)
        if result == "rate_limited":
            return max(retry_after or 0.0, backoff)
        return backoff

    def after_failure(self, error: errors.RunnerAgentError, failures: int) -> float:
        """The delay before trying again after ``error``, the n-th in a row."""
        retry_after = getattr(error, "retry_after", None)
        return self.next_delay(classify(error), failures, retry_after)

    def _backoff(self, failures: int) -> float:
        """Equal-jitter exponential backoff, never slower than a regular beat."""
        growth = 2.0 ** max(failures - 1, 0)
        ceiling = min(self.interval, self.backoff_base * growth)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_policy(interval: float, healthcheck: HealthcheckConfig) -> BeatPolicy:
    """A policy at ``interval`` with the configured jitter and auth slow-down."""
    return BeatPolicy(
        interval=interval,
        jitter=healthcheck.jitter,
        auth_interval=healthcheck.auth_retry_interval,
    )


@dataclass(frozen=True)
class BeatOutcome:
    """How one beat went and when the next one should happen."""

    result: str
    delay: float
    error: errors.RunnerAgentError | None = None


class Heartbeat:
    """Sends healthchecks and keeps the record of how they go."""

    def __init__(
        self,
        client: RunnersClient,
        build_body: Callable[[], dict[str, Any]],
        status: AgentStatus,
        policy: BeatPolicy,
        *,
        timeout: float,
        on_beat: Callable[[BeatRecord], None] | None = None,
    ) -> None:
        self.client = client
        self.build_body = build_body
        self.status = status
        self.policy = policy
        self.timeout = timeout
        self.failures = FailureLog("healthcheck")
        self._on_beat = on_beat

    def beat(self) -> BeatOutcome:
        """Send one healthcheck now."""
        body = self.build_body()
        started = time.monotonic()
        error: errors.RunnerAgentError | None = None
        try:
            self.client.send_healthcheck(body, timeout=self.timeout)
            result = ACCEPTED
        except errors.RunnerAgentError as failure:
            error, result = failure, classify(failure)
        latency_ms = (time.monotonic() - started) * 1000

        record = BeatRecord(
            at=utc_now(),
            monotonic=started,
            result=result,
            latency_ms=latency_ms,
            error=str(error) if error else "",
        )
        self.status.record_beat(record, body)
        self._report(record)
        if self._on_beat is not None:
            self._on_beat(record)

        retry_after = getattr(error, "retry_after", None)
        delay = self.policy.next_delay(
            result, self.status.consecutive_failures, retry_after
        )
        if result in (ACCEPTED, "rejected"):
            # The regular pace counts from the start of the beat, so a slow
            # answer does not stretch the interval. Backoff and Retry-After
            # count from the answer, so a struggling control plane gets its
            # full pause.
            delay = max(0.0, delay - (time.monotonic() - started))
        return BeatOutcome(result=result, delay=delay, error=error)

    def _report(self, record: BeatRecord) -> None:
        if record.accepted:
            self.failures.succeeded()
            self.status.set_mode("beating")
            log.debug("healthcheck_accepted", latency_ms=round(record.latency_ms, 1))
            return
        if record.result == NO_SUCH_ROUTE:
            # Not a failure to retry: the daemon stops and says why, once.
            return
        self.failures.failed(record.result, record.error)
        if record.result in AUTH_REFUSED:
            self.status.set_mode("auth_refused")
        elif record.result == "rate_limited":
            self.status.set_mode("rate_limited")
        elif record.result == "deleted":
            self.status.set_mode("deleted")
        else:
            self.status.set_mode("retrying")
