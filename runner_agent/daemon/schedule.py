"""The daemon's jobs on APScheduler: never overlapping, coalesced, jittered.

Two kinds of job run here. *Periodic* jobs (CPU sampling, Docker refresh,
checks) run every interval. *Self-paced* jobs (the healthcheck, the state
watch) return the delay until their next run, which lets the heartbeat
retry sooner after a failure or wait out a ``Retry-After``; their trigger is
only a fallback that keeps them going should a run not report back.

APScheduler plans with the wall clock. So every job also has a monotonic
due time here: for a self-paced job the delay it asked for, for a periodic
job the latest its interval and jitter allow. The daemon's main loop
watches these (:meth:`Scheduler.overdue`) and pulls a job forward if a
backward clock step left it stranded in the future, and asks
:meth:`Scheduler.on_time` whether the heartbeat keeps its own plan.
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
        self._planned: set[str] = set()
        # When each running job started.
        self._running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closing = False

    def add_periodic(self, job: PeriodicJob, *, jitter: float = 0.0) -> None:
        first = 0.0 if job.run_at_start else job.interval
        # The longest a run may follow the previous one, as planned.
        longest = job.interval * (1 + jitter)

        def periodic() -> None:
            self._guarded(job.name, job.run)()
            with self._lock:
                if not self._closing and job.name in self._planned:
                    self._due[job.name] = time.monotonic() + longest

        self._plan(job.name, first)
        self._scheduler.add_job(
            periodic,
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

        self._plan(name, first)
        self._scheduler.add_job(
            paced,
            JitteredInterval(fallback_interval, 0.1, first),
            id=name,
            name=name,
        )

    def reschedule(self, name: str, delay: float) -> None:
        """Run ``name`` next in ``delay`` seconds (0 runs it now)."""
        with self._lock:
            # A job removed while it ran must not come back as a due time.
            if self._closing or name not in self._planned:
                return
            self._due[name] = time.monotonic() + delay
        self._set_next_run(name, delay)

    def pull_forward(self, name: str) -> None:
        """Run a stranded job now, keeping the due time it missed.

        Should the job still not run (the scheduler's thread is gone), it
        stays overdue, and :meth:`on_time` keeps saying so.
        """
        with self._lock:
            if self._closing:
                return
        self._set_next_run(name, 0.0)

    def remove(self, name: str) -> None:
        with self._lock:
            self._due.pop(name, None)
            self._planned.discard(name)
        try:
            self._scheduler.remove_job(name)
        except JobLookupError:
            return

    def overdue(self, grace: float) -> list[str]:
        """Jobs due more than ``grace`` seconds ago and not running."""
        now = time.monotonic()
        with self._lock:
            return [
                name
                for name, due in self._due.items()
                if now - due > grace and name not in self._running
            ]

    def next_overdue_in(self, grace: float) -> float | None:
        """Seconds until a job not overdue yet would become so; None if none."""
        now = time.monotonic()
        with self._lock:
            waits = [
                due + grace - now
                for name, due in self._due.items()
                if due + grace >= now and name not in self._running
            ]
        return min(waits, default=None)

    def on_time(self, name: str, *, late_after: float, stuck_after: float) -> bool:
        """Whether ``name`` keeps its plan: not overdue, not running too long.

        A job that is not scheduled (removed, or waiting on its fallback)
        has no plan to miss.
        """
        now = time.monotonic()
        with self._lock:
            started = self._running.get(name)
            if started is not None:
                return now - started <= stuck_after
            due = self._due.get(name)
            return due is None or now - due <= late_after

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

    def _plan(self, name: str, first: float) -> None:
        with self._lock:
            self._planned.add(name)
            self._due[name] = time.monotonic() + first

    def _set_next_run(self, name: str, delay: float) -> None:
        when = datetime.now(UTC) + timedelta(seconds=delay)
        # modify_job wakes the scheduler's thread to plan with the new time.
        with contextlib.suppress(JobLookupError, SchedulerNotRunningError):
            self._scheduler.modify_job(name, next_run_time=when)

    def _guarded(self, name: str, run: Callable[[], Any]) -> Callable[[], Any]:
        """Run a job so that an unexpected error is logged, never lost."""

        def guarded() -> Any:
            with self._lock:
                self._running[name] = time.monotonic()
                self._due.pop(name, None)
            try:
                return run()
            except Exception:
                # The boundary of every job: log with the traceback, keep going.
                log.exception("job_crashed", job=name)
                return None
            finally:
                with self._lock:
                    self._running.pop(name, None)
                    self._idle.notify_all()

        return guarded
