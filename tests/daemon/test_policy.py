"""The retry policy, the failure log and the scheduler, in process."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import structlog

from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import BeatPolicy
from runner_agent.daemon.schedule import JitteredInterval, Scheduler
from runner_agent.jobs import PeriodicJob


def test_regular_delays_stay_within_the_jitter():
    policy = BeatPolicy(interval=10.0, jitter=0.1)

    delays = [policy.regular() for _ in range(2000)]

    assert 9.0 <= min(delays) < 9.2
    assert 10.8 < max(delays) <= 11.0


def test_backoff_doubles_from_a_tenth_of_the_interval_up_to_the_interval():
    policy = BeatPolicy(interval=10.0)

    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0)]:
        delays = [policy.next_delay("server_error", failures, None) for _ in range(300)]
        assert ceiling / 2 <= min(delays)
        assert max(delays) <= ceiling


def test_retry_after_wins_over_a_shorter_backoff():
    policy = BeatPolicy(interval=10.0)

    assert policy.next_delay("rate_limited", 1, 42.0) == 42.0
    assert policy.next_delay("rate_limited", 1, None) <= 1.0


def test_a_refused_key_waits_the_long_auth_interval():
    policy = BeatPolicy(interval=10.0, auth_interval=300.0)

    delays = {policy.next_delay("unauthorized", 5, None) for _ in range(50)}

    assert min(delays) >= 300.0
    assert max(delays) <= 330.0


def test_the_failure_log_says_start_summary_and_recovery_once_each():
    now = [0.0]
    log = FailureLog("healthcheck", summary_every=60.0, clock=lambda: now[0])

    with structlog.testing.capture_logs() as events:
        for second in range(0, 150, 5):
            now[0] = float(second)
            log.failed("server_error", "503")
        now[0] = 150.0
        log.succeeded()
        log.succeeded()

    names = [event["event"] for event in events]
    assert names == [
        "operation_failing",
        "operation_still_failing",
        "operation_still_failing",
        "operation_recovered",
    ]
    assert events[-1]["failures"] == 30
    assert events[-1]["after_seconds"] == 150.0


def test_jittered_interval_coalesces_missed_runs_into_one_now():
    trigger = JitteredInterval(10.0, 0.0, first=2.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    first = trigger.get_next_fire_time(None, now)
    late = trigger.get_next_fire_time(now - timedelta(hours=1), now)
    regular = trigger.get_next_fire_time(now, now)

    assert first == now + timedelta(seconds=2)
    assert late == now
    assert regular == now + timedelta(seconds=10)


def test_a_self_paced_job_runs_at_the_delay_it_returns():
    scheduler = Scheduler()
    runs: list[float] = []
    done = threading.Event()

    def job() -> float:
        runs.append(time.monotonic())
        if len(runs) == 4:
            done.set()
        return 0.1

    scheduler.add_self_paced("job", job, fallback_interval=60.0)
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.shutdown()

    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(0.08 <= gap < 1.0 for gap in gaps)


def test_a_job_stranded_by_a_clock_step_is_reported_overdue():
    scheduler = Scheduler()
    scheduler.add_self_paced("beat", lambda: 0.05, fallback_interval=60.0, first=0.0)
    # Not started: the job's monotonic due time passes while it never runs,
    # as when the wall clock jumps back and APScheduler waits for it.
    time.sleep(0.2)

    assert scheduler.overdue(grace=0.1) == ["beat"]
    assert scheduler.overdue(grace=5.0) == []


def test_a_crashing_job_is_logged_and_keeps_its_schedule():
    scheduler = Scheduler()
    calls: list[int] = []
    again = threading.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) >= 2:
            again.set()
        raise RuntimeError("boom")

    with structlog.testing.capture_logs() as events:
        scheduler.add_periodic(PeriodicJob("flaky", 0.1, flaky))
        scheduler.start()
        try:
            assert again.wait(10)
        finally:
            scheduler.shutdown()

    assert any(event["event"] == "job_crashed" for event in events)


class SteppedClock:
    """The wall clock, offset by a step that a test makes.

    Stepping the host's real clock needs privileges and would upset every
    other process on it; the scheduler only reads the wall clock through
    ``datetime.now``, so an offset there is what a step looks like to it.
    """

    offset = timedelta(0)

    @classmethod
    def datetime(cls) -> type[datetime]:
        clock = cls

        class Stepped(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return datetime.now(tz) + clock.offset

        return Stepped


def test_a_periodic_job_frozen_by_a_backward_clock_step_is_pulled_forward(
    monkeypatch,
):
    stepped = SteppedClock.datetime()
    monkeypatch.setattr("apscheduler.schedulers.base.datetime", stepped)
    monkeypatch.setattr("runner_agent.daemon.schedule.datetime", stepped)
    scheduler = Scheduler()
    runs: list[float] = []
    scheduler.add_periodic(PeriodicJob("host-cpu", 0.1, lambda: runs.append(1)))
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        SteppedClock.offset = -timedelta(hours=1)
        time.sleep(0.2)
        frozen_at = len(runs)
        time.sleep(0.3)
        frozen = len(runs) == frozen_at
        overdue = scheduler.overdue(grace=0.1)
        for name in overdue:
            scheduler.pull_forward(name)
        time.sleep(0.5)
    finally:
        SteppedClock.offset = timedelta(0)
        scheduler.shutdown()

    assert frozen
    assert overdue == ["host-cpu"]
    assert len(runs) >= frozen_at + 3


def test_a_job_not_run_long_after_its_due_time_is_not_on_time():
    scheduler = Scheduler()
    scheduler.add_self_paced("beat", lambda: 60.0, fallback_interval=60.0)

    # Not started: the job's due time passes while it never runs.
    on_time_at_first = scheduler.on_time("beat", late_after=0.1, stuck_after=1.0)
    time.sleep(0.2)

    assert on_time_at_first
    assert not scheduler.on_time("beat", late_after=0.1, stuck_after=1.0)
    assert scheduler.on_time("never-added", late_after=0.1, stuck_after=1.0)


def test_a_job_running_too_long_is_not_on_time_until_it_returns():
    scheduler = Scheduler()
    running, release = threading.Event(), threading.Event()

    def stuck() -> float:
        running.set()
        release.wait(10)
        return 60.0

    scheduler.add_self_paced("beat", stuck, fallback_interval=60.0)
    scheduler.start()
    try:
        assert running.wait(5)
        on_time_while_young = scheduler.on_time("beat", late_after=0.1, stuck_after=0.2)
        time.sleep(0.3)
        on_time_when_stuck = scheduler.on_time("beat", late_after=0.1, stuck_after=0.2)
        release.set()
        time.sleep(0.1)
        on_time_after = scheduler.on_time("beat", late_after=0.1, stuck_after=0.2)
    finally:
        release.set()
        scheduler.shutdown()

    assert on_time_while_young
    assert not on_time_when_stuck
    assert on_time_after
