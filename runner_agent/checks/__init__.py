"""Operator-defined service checks (``[[checks]]``), run beside the healthcheck.

A :class:`CheckRunner` is driven by one periodic job that only looks at
which checks are due and hands them to a small thread pool, so checks run
concurrently, a slow one never holds up the others, and a healthcheck only
reads their last damped results.

Each reported check is one ``serviceHealth`` entry. The control plane marks
a runner unresponsive, and stops scheduling on it, as soon as one reported
service is unhealthy; a check with ``local_only = true`` is shown locally
but never sent.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx
import structlog

from runner_agent.checks.probes import Outcome, run_check
from runner_agent.checks.state import CheckState
from runner_agent.config.checks import CheckConfig

__all__ = ["CheckRunner", "CheckState", "Outcome"]

log = structlog.get_logger(__name__)

MAX_WORKERS = 8
# The dispatching job's period: fine enough for the shortest interval, and
# at most a second, which bounds how late a check starts.
_MIN_TICK = 0.05
_MAX_TICK = 1.0


class CheckRunner:
    """Runs the configured checks when due and keeps their damped health."""

    def __init__(self, checks: tuple[CheckConfig, ...]) -> None:
        self._states = {check.name: CheckState(check) for check in checks}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._closed = False

    def tick_interval(self) -> float:
        intervals = [state.config.interval for state in self.states()]
        shortest = min(intervals, default=2 * _MAX_TICK)
        return max(_MIN_TICK, min(_MAX_TICK, shortest / 2))

    def states(self) -> list[CheckState]:
        with self._lock:
            return list(self._states.values())

    def dispatch(self) -> None:
        """Start every check that is due and not already running (the job)."""
        now = time.monotonic()
        for state in self.states():
            if state.running or now < state.next_due or self._closed:
                continue
            state.running = True
            state.next_due = now + state.config.interval
            self._executor().submit(self._run, state, True)

    def run_all(self) -> None:
        """Run every check once, now, and wait; results taken undamped."""
        futures = [self._executor().submit(self._run, s, False) for s in self.states()]
        wait(futures)

    def service_health(self) -> list[dict[str, Any]]:
        entries = []
        for state in self.states():
            entry = state.service()
            if entry is not None and not state.config.local_only:
                entries.append(entry)
        return entries

    def report(self, now: float) -> list[dict[str, Any]]:
        return [state.report(now) for state in self.states()]

    def reconfigure(self, checks: tuple[CheckConfig, ...]) -> None:
        """Keep the state of unchanged checks; start changed ones afresh."""
        with self._lock:
            old = self._states
            self._states = {
                check.name: old[check.name]
                if check.name in old and old[check.name].config == check
                else CheckState(check)
                for check in checks
            }

    def close(self) -> None:
        """Stop: queued runs are dropped, runs still going are disowned.

        The flag goes up before the shared client closes: a run cut short by
        the closing client would otherwise log a failure after the stop.
        """
        with self._lock:
            self._closed = True
            pool, http = self._pool, self._http
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if http is not None:
            http.close()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="check")
            return self._pool

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._closed:
                raise RuntimeError("the check runner is closed")
            if self._http is None:
                self._http = httpx.Client(
                    follow_redirects=False,
                    # Checks probe services on or near this host: the
                    # environment's HTTP_PROXY (set for the way out) must not
                    # send them elsewhere. The transport still reads
                    # SSL_CERT_FILE and SSL_CERT_DIR, how a private CA is
                    # trusted for https checks.
                    trust_env=False,
                    transport=httpx.HTTPTransport(trust_env=True),
                )
            return self._http

    def _run(self, state: CheckState, damped: bool) -> None:
        try:
            outcome = run_check(state.config, self._client())
        except Exception:
            # The boundary of a pool task: an error here would vanish unseen.
            if not self._closed:
                log.exception("check_crashed", check=state.config.name)
            outcome = Outcome(ok=False, reason="the check itself crashed")
        finally:
            state.running = False
        if self._closed:
            # Its outcome says more about the stop than about the service.
            log.debug("check_abandoned", check=state.config.name)
            return
        state.record(outcome, damped=damped)
