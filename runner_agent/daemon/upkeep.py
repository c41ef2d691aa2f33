"""The main thread's chores between signals: stranded jobs and the watchdog.

The main loop sleeps until the next chore falls due; signals, a stop asked
for by a job, and the stop action's end wake it sooner.

*Stranded jobs.* The scheduler plans with the wall clock; a backward step
would hold every job back for as long as the step. A job whose monotonic
due time passed more than a grace ago is run at once (``job_stranded``,
logged once per stranding).

*The watchdog.* ``WATCHDOG=1`` tells systemd the agent works as planned:
the main loop is alive and the heartbeat job runs when it means to,
whatever the control plane answers. A refused key, a 429 or an unreachable
control plane make the agent wait on purpose; a watchdog restart then
would undo that pause (a restart beats at once) and restart a whole fleet
in step. So the watchdog is fed unless the heartbeat job is overdue (its
due time passed a grace ago and it has not run) or stuck (running for
longer than its timeout and a grace), and it is withheld only then.
"""

from __future__ import annotations

import time

import structlog

from runner_agent.config import Config
from runner_agent.daemon.schedule import Scheduler
from runner_agent.daemon.sdnotify import SystemdNotifier

log = structlog.get_logger(__name__)

# Never sleep less than this, so a clock oddity cannot spin the loop.
MIN_SLEEP = 0.05
# Once withheld, the watchdog is looked at again this often.
RECHECK_WATCHDOG = 1.0
# How late a job may be, at least, before it counts as stranded or stuck.
MIN_GRACE = 5.0


class Upkeep:
    """Does the main loop's chores and says when the next one is due."""

    def __init__(
        self,
        scheduler: Scheduler,
        notifier: SystemdNotifier,
        heartbeat_job: str,
        *,
        min_grace: float = MIN_GRACE,
    ) -> None:
        self.scheduler = scheduler
        self.notifier = notifier
        self.heartbeat_job = heartbeat_job
        self.min_grace = min_grace
        self._stranded: set[str] = set()
        self._next_feed = 0.0
        self._withheld = False

    def run(self, config: Config) -> float:
        """Do what is due now; return the seconds until the next chore."""
        allowance = self.grace(config)
        self._pull_forward(allowance)
        waits = [allowance, self._feed_watchdog(config, allowance)]
        coming = self.scheduler.next_overdue_in(allowance)
        if coming is not None:
            waits.append(coming)
        return max(MIN_SLEEP, min(waits))

    def grace(self, config: Config) -> float:
        """How late a job may be before it counts as stranded or stuck."""
        return max(self.min_grace, 2 * config.healthcheck.interval)

    def _pull_forward(self, allowance: float) -> None:
        overdue = self.scheduler.overdue(allowance)
        for name in overdue:
            if name not in self._stranded:
                log.warning("job_stranded", job=name, hint="the wall clock moved")
            self.scheduler.pull_forward(name)
        self._stranded = set(overdue)

    def _feed_watchdog(self, config: Config, allowance: float) -> float:
        """Feed the watchdog if it is time and the heartbeat keeps its plan."""
        interval = self.notifier.watchdog_interval
        if interval is None:
            return allowance
        now = time.monotonic()
        if now < self._next_feed:
            return self._next_feed - now
        on_time = self.scheduler.on_time(
            self.heartbeat_job,
            late_after=allowance,
            stuck_after=config.healthcheck.timeout + allowance,
        )
        if on_time:
            self.notifier.watchdog()
            self._next_feed = now + interval
            if self._withheld:
                log.info("watchdog_resumed")
        else:
            self._next_feed = now + min(interval, RECHECK_WATCHDOG)
            if not self._withheld:
                log.warning(
                    "watchdog_withheld",
                    job=self.heartbeat_job,
                    hint="the heartbeat job is overdue or stuck; systemd will "
                    "restart the agent if it stays so",
                )
        self._withheld = not on_time
        return self._next_feed - now
