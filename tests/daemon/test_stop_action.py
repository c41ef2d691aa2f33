"""The stop action against a control plane that refuses, hangs or loses answers."""

from __future__ import annotations

import signal
import time

from tests.daemon.conftest import (
    control,
    gaps,
    inject,
    requests_to,
    set_unschedulable,
    the_runner,
    wait_until,
)

CORDON_ON_STOP = '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "cordon"\n'
SCHEDULING = {"method": "PATCH", "path": "/runners/*"}


def refused_patches(emulator) -> list[dict]:
    entries = requests_to(emulator, "PATCH", "/runners/")
    return [entry for entry in entries if entry["status"] == 401]


def start_ready(start_agent, config):
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    return agent


def test_an_operators_cordon_is_left_alone_by_on_stop_cordon(
    emulator, config_file, start_agent
):
    config = config_file(CORDON_ON_STOP)
    first = start_ready(start_agent, config)
    set_unschedulable(emulator, the_runner(emulator)["id"], True)

    first_code = first.stop()
    second = start_agent(config)
    second.wait_for("runner_state_seen")
    time.sleep(0.5)
    second.stop()

    assert first_code == 0
    assert first.named("runner_already_cordoned")
    assert not first.named("runner_cordoned")
    assert the_runner(emulator)["unschedulable"] is True
    assert not second.named("agent_cordon_undone")
    assert not second.named("runner_uncordoned")


def test_a_second_signal_stops_at_once_while_the_cordon_hangs(
    emulator, config_file, start_agent
):
    agent = start_ready(start_agent, config_file(CORDON_ON_STOP))
    inject(emulator, **SCHEDULING, delay=60, count=-1)

    agent.signal(signal.SIGTERM)
    agent.wait_for("stop_action_started")
    time.sleep(0.3)
    agent.signal(signal.SIGTERM)
    started = time.monotonic()
    code = agent.process.wait(timeout=15)
    took = time.monotonic() - started

    abandoned = agent.wait_for("stop_action_abandoned")
    assert took < 3
    assert code == 0
    assert abandoned["action"] == "cordon"
    assert not agent.named("stop_action_failed")


def test_a_cordon_refused_twice_is_retried_until_it_is_done(
    emulator, config_file, start_agent
):
    agent = start_ready(start_agent, config_file(CORDON_ON_STOP))
    inject(emulator, **SCHEDULING, status=503, count=2)

    code = agent.stop()

    attempts = requests_to(emulator, "PATCH", "/runners/")
    assert code == 0
    assert [entry["status"] for entry in attempts] == [503, 503, 200]
    assert the_runner(emulator)["unschedulable"] is True
    assert agent.named("stop_action_done")
    assert len(agent.named("operation_failing")) == 1
    assert agent.named("operation_recovered")[0]["operation"] == "stop_action"
    assert not agent.named("stop_action_failed")


def test_stop_timeout_is_a_deadline_after_which_the_agent_gives_up_once(
    emulator, config_file, start_agent
):
    config = config_file(CORDON_ON_STOP + 'stop_timeout = "2s"\n')
    agent = start_ready(start_agent, config)
    inject(emulator, **SCHEDULING, status=503, count=-1)

    started = time.monotonic()
    code = agent.stop()
    took = time.monotonic() - started

    attempts = requests_to(emulator, "PATCH", "/runners/")
    failed = agent.named("stop_action_failed")
    assert code == 0
    assert took < 3
    assert len(attempts) >= 3
    assert len(failed) == 1
    assert failed[0]["attempts"] == len(attempts)
    assert "runner-agent cordon" in failed[0]["hint"]
    assert len(agent.named("operation_failing")) == 1
    assert the_runner(emulator)["unschedulable"] is False


def test_stop_timeout_holds_while_a_request_hangs(emulator, config_file, start_agent):
    config = config_file(CORDON_ON_STOP + 'stop_timeout = "1s"\n')
    agent = start_ready(start_agent, config)
    inject(emulator, **SCHEDULING, delay=60, count=-1)

    started = time.monotonic()
    code = agent.stop()
    took = time.monotonic() - started

    failed = agent.wait_for("stop_action_failed")
    assert code == 0
    assert took < 4
    assert "lifecycle.stop_timeout" in failed["error"]


def test_a_cordon_whose_answer_was_lost_is_still_undone_at_the_next_start(
    emulator, config_file, start_agent
):
    config = config_file(CORDON_ON_STOP)
    first = start_ready(start_agent, config)
    inject(emulator, **SCHEDULING, dropAfter=True, count=1)

    first.stop()
    cordoned = the_runner(emulator)["unschedulable"]
    second = start_agent(config)
    second.wait_for("agent_cordon_undone")
    second.stop()

    assert cordoned is True
    assert first.named("stop_action_done")
    assert not first.named("runner_already_cordoned")
    assert second.named("runner_uncordoned")


def test_undoing_the_cordon_slows_down_on_a_refused_key_and_logs_once(
    emulator, config_file, start_agent
):
    config = config_file(CORDON_ON_STOP)
    start_ready(start_agent, config).stop()
    inject(emulator, **SCHEDULING, status=401, count=-1)
    config.write_text(
        config.read_text().replace(
            "interval = 0.3\n", 'interval = 0.3\nauth_retry_interval = "0.7s"\n'
        )
    )

    second = start_agent(config)
    refused = wait_until(lambda: len(r := refused_patches(emulator)) >= 3 and r)
    control(emulator, "DELETE", "/faults")
    second.wait_for("agent_cordon_undone")
    uncordoned = the_runner(emulator)["unschedulable"] is False
    second.stop()

    failing = [
        e for e in second.named("operation_failing") if e["operation"] == "undo_cordon"
    ]
    retries = gaps(refused[:3])
    assert len(failing) == 1
    assert failing[0]["result"] == "unauthorized"
    assert all(0.7 <= gap <= 1.0 for gap in retries)
    assert second.named("operation_recovered")[-1]["operation"] == "undo_cordon"
    assert not second.named("uncordon_failed")
    assert uncordoned
