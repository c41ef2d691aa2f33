"""The daemon's jobs on APScheduler: never overlapping, coalesced, jittered.

Two kinds of job run here. *Periodic* jobs (CPU sampling, Docker refresh,
checks) run every interval. *Self-paced* jobs (the healthcheck, the state
watch) return the delay until their next run, which lets the heartbeat
retry sooner after a failure or wait out a ``Retry-After``; their trigger is
only a fallback that keeps them going should a run not report back.

APScheduler plans with the wall clock. The daemon's main loop therefore
watches the self-paced jobs with the monotonic clock (:meth:`Scheduler.overdue`)
and pulls a job forward if a clock step left it stranded in the future.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from runner_agent.jobs import PeriodicJob

log = structlog.get_logger(__name__)


class JitteredInterval(BaseTrigger):  # type: ignore[misc]
    """Every ``interval`` seconds ±``jitter`` (a fraction), first after ``first``."""

    def __init__(
        self, interval: float, jitter: float = 0.0, first: float = 0.0
    ) -> None:
        self.interval = interval
        self.jitter = jitter
        self.first = first

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime:
        if previous_fire_time is None:
            return now + timedelta(seconds=self.first)
        spread = random.uniform(1 - self.jitter, 1 + self.jitter)
        following = previous_fire_time + timedelta(seconds=self.interval * spread)
        # Runs missed while the host slept are coalesced into one, now.
        return max(following, now)

    def __str__(self) -> str:
        return f"every {self.interval:g}s ±{self.jitter:.0%}"


class Scheduler:
    """Runs the daemon's jobs in a small thread pool."""

    def __init__(self, max_workers: int = 8) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
            timezone=UTC,
        )
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closing = False

    def add_periodic(self, job: PeriodicJob, *, jitter: float = 0.0) -> None:
        first = 0.0 if job.run_at_start else job.interval
        self._scheduler.add_job(
            self._guarded(job.name, job.run),
            JitteredInterval(job.interval, jitter, first),
            id=job.name,
            name=job.name,
        )

    def add_self_paced(
        self,
        name: str,
        run: Callable[[], float | None],
        *,
        fallback_interval: float,
        first: float = 0.0,
    ) -> None:
        """Add a job whose run returns the delay before its next run.

        A run that returns None leaves the job to its fallback interval.
        """

        def paced() -> None:
            delay = self._guarded(name, run)()
            if delay is not None:
                self.reschedule(name, delay)

        with self._lock:
            self._due[name] = time.monotonic() + first
        self._scheduler.add_job(
            paced,
            JitteredInterval(fallback_interval, 0.1, first),
            id=name,
            name=name,
        )

    def reschedule(self, name: str, delay: float) -> None:
        """Run ``name`` next in ``delay`` seconds (0 runs it now)."""
        with self._lock:
            if self._closing:
                return
            self._due[name] = time.monotonic() + delay
        when = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            self._scheduler.modify_job(name, next_run_time=when)
        except (JobLookupError, SchedulerNotRunningError):
            return
        self._scheduler.wakeup()

    def remove(self, name: str) -> None:
        with self._lock:
            self._due.pop(name, None)
        try:
            self._scheduler.remove_job(name)
        except JobLookupError:
            return

    def has_job(self, name: str) -> bool:
        return self._scheduler.get_job(name) is not None

    def overdue(self, grace: float) -> list[str]:
        """Self-paced jobs due more than ``grace`` seconds ago and not running."""
        now = time.monotonic()
        with self._lock:
            return [
                name
                for name, due in self._due.items()
                if now - due > grace and name not in self._running
            ]

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self, wait: bool = True, timeout: float = 30.0) -> None:
        """Stop planning runs; with ``wait``, let running jobs finish.

        APScheduler's own waiting shutdown holds the job store's lock while
        it waits, and a self-paced job rescheduling itself at the end of its
        run needs that lock: they would wait for each other for ever. So
        rescheduling is turned off first and the waiting is done here.
        """
        with self._lock:
            self._closing = True
        with contextlib.suppress(SchedulerNotRunningError):
            self._scheduler.shutdown(wait=False)
        if wait:
            deadline = time.monotonic() + timeout
            with self._idle:
                while self._running and time.monotonic() < deadline:
                    self._idle.wait(max(0.0, deadline - time.monotonic()))

    def _guarded(self, name: str, run: Callable[[], Any]) -> Callable[[], Any]:
        """Run a job so that an unexpected error is logged, never lost."""

        def guarded() -> Any:
            with self._lock:
                self._running.add(name)
                self._due.pop(name, None)
            try:
                return run()
            except Exception:
                # The boundary of every job: log with the traceback, keep going.
                log.exception("job_crashed", job=name)
                return None
            finally:
                with self._lock:
                    self._running.discard(name)
                    self._idle.notify_all()

        return guarded
