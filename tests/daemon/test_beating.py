"""The heartbeat of a real daemon: pace, jitter, retries, refusals."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.daemon.conftest import (
    control,
    delete_runner,
    gaps,
    healthchecks,
    seconds,
    the_runner,
    wait_until,
)

INTERVAL = 0.4


def test_beats_come_at_the_interval_spread_by_the_jitter(
    emulator, config_file, start_agent
):
    agent = start_agent(config_file(f"[healthcheck]\ninterval = {INTERVAL}\n"))

    beats = wait_until(lambda: (b := healthchecks(emulator)) and len(b) >= 14 and b)
    agent.stop()

    # The first gap is the random start offset; the rest are regular beats.
    regular = gaps(beats)[1:]
    assert abs(statistics.median(regular) - INTERVAL) <= 0.1 * INTERVAL + 0.03
    assert min(regular) >= 0.8 * INTERVAL
    assert len({round(gap, 3) for gap in regular}) > len(regular) // 2


def test_slow_answers_do_not_stretch_the_pace(emulator, config_file, start_agent):
    # The default timeout would shrink to half the interval, below the delay.
    config = config_file(f'[healthcheck]\ninterval = {INTERVAL}\ntimeout = "0.35s"\n')
    agent = start_agent(config)
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    slow = {"path": "/runners/healthcheck", "delay": 0.25, "count": 100}
    control(emulator, "POST", "/faults", json=slow)
    before = len(healthchecks(emulator))

    beats = wait_until(
        lambda: (b := healthchecks(emulator)) and len(b) >= before + 9 and b
    )
    agent.stop()

    # Each entry is logged when its answer is sent, a quarter second after
    # the beat began; counted from the answer the gaps would be 0.65 s.
    slow_gaps = gaps(beats[before + 1 :])
    assert agent.named("operation_failing") == []
    assert abs(statistics.median(slow_gaps) - INTERVAL) <= 0.1 * INTERVAL + 0.05


def test_a_burst_of_503_is_retried_and_recovers_within_two_intervals(
    emulator, config_file, start_agent
):
    agent = start_agent(config_file(f"[healthcheck]\ninterval = {INTERVAL}\n"))
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    fault = {
        "method": "POST",
        "path": "/runners/healthcheck",
        "status": 503,
        "count": 3,
    }
    control(emulator, "POST", "/faults", json=fault)

    recovered = agent.wait_for("operation_recovered")
    failing = agent.wait_for("operation_failing")
    agent.stop()

    entries = healthchecks(emulator)
    refused = [e for e in entries if e["status"] == 503]
    first_refused = entries.index(refused[0])
    accepted_after = next(e for e in entries[first_refused:] if e["status"] == 200)
    assert len(refused) == 3
    assert seconds(accepted_after) - seconds(refused[0]) <= 2 * INTERVAL
    assert failing["result"] == "server_error"
    assert recovered["failures"] == 3
    assert len(agent.named("operation_failing")) == 1


def test_retry_after_is_honoured(emulator, config_file, start_agent):
    agent = start_agent(config_file(f"[healthcheck]\ninterval = {INTERVAL}\n"))
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    limited = {"path": "/runners/healthcheck", "status": 429, "retryAfter": 2}
    control(emulator, "POST", "/faults", json=limited)

    agent.wait_for("operation_recovered")
    agent.stop()

    entries = healthchecks(emulator)
    index = next(i for i, e in enumerate(entries) if e["status"] == 429)
    assert seconds(entries[index + 1]) - seconds(entries[index]) >= 1.9


def test_a_refused_key_slows_down_keeps_running_and_is_not_ready(
    emulator, config_file, start_agent
):
    config = config_file(
        f'[healthcheck]\ninterval = {INTERVAL}\nauth_retry_interval = "3s"\n'
    )
    agent = start_agent(config)
    url = agent.local_url
    wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200)
    refused = {"path": "/runners/healthcheck", "status": 401, "count": -1}
    control(emulator, "POST", "/faults", json=refused)

    agent.wait_for("operation_failing", lambda e: e["result"] == "unauthorized")
    started = time.monotonic()
    readiness = wait_until(
        lambda: (r := httpx.get(f"{url}/readyz")).status_code == 503 and r.json()
    )
    time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
    attempts = [e for e in healthchecks(emulator) if e["status"] == 401]
    alive = agent.process.poll() is None
    control(emulator, "DELETE", "/faults")
    agent.wait_for("operation_recovered", timeout=20)
    agent.stop()

    assert alive
    assert len(attempts) == 1
    assert "agent is auth refused" in readiness["reasons"]


def test_a_control_plane_gone_then_back_is_survived(emulator, config_file, start_agent):
    agent = start_agent(config_file(f"[healthcheck]\ninterval = {INTERVAL}\n"))
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    gone = {"path": "/runners*", "drop": True, "count": -1}
    control(emulator, "POST", "/faults", json=gone)

    failing = agent.wait_for("operation_failing")
    time.sleep(1.5)
    control(emulator, "DELETE", "/faults")
    recovered = agent.wait_for("operation_recovered")
    code = agent.stop()

    assert failing["result"] == "unreachable"
    assert recovered["failures"] >= 2
    assert code == 0
    assert the_runner(emulator)["state"] == "ready"
    assert len(agent.named("operation_still_failing")) == 0


def test_a_deleted_runner_is_reported_and_the_agent_exits_5(
    emulator, config_file, start_agent
):
    agent = start_agent(config_file(f"[healthcheck]\ninterval = {INTERVAL}\n"))
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    runner_id = the_runner(emulator)["id"]

    delete_runner(emulator, runner_id)
    code = agent.process.wait(timeout=15)

    deleted = agent.wait_for("runner_deleted")
    assert code == 5
    assert deleted["runner_id"] == runner_id
    assert "register --force" in deleted["hint"]


def test_a_deleted_runner_can_be_waited_on_instead_of_exiting(
    emulator, config_file, start_agent
):
    config = config_file(
        f"[healthcheck]\ninterval = {INTERVAL}\n"
        "[lifecycle]\nexit_when_deleted = false\n"
    )
    agent = start_agent(config)
    url = agent.local_url
    wait_until(lambda: len(healthchecks(emulator)) >= 2)
    runner_id = the_runner(emulator)["id"]

    delete_runner(emulator, runner_id)
    agent.wait_for("runner_deleted")
    beats_then = len(healthchecks(emulator))
    time.sleep(4 * INTERVAL)
    readiness = httpx.get(f"{url}/readyz")
    alive = agent.process.poll() is None
    code = agent.stop()

    assert alive
    assert code == 0
    assert len(healthchecks(emulator)) == beats_then
    assert readiness.status_code == 503
    assert "agent is deleted" in readiness.json()["reasons"]
