"""Stopping (with the on_stop actions) and reloading on SIGHUP."""

from __future__ import annotations

import json
import signal
import statistics
import time

import httpx

from tests.daemon.conftest import (
    control,
    gaps,
    healthchecks,
    set_unschedulable,
    the_runner,
    wait_until,
)


def intent(tmp_path) -> dict:
    return json.loads((tmp_path / "state" / "intent.json").read_text())


def test_sigterm_with_on_stop_cordon_then_a_restart_uncordons(
    emulator, config_file, start_agent, tmp_path
):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "cordon"\n'
    )
    first = start_agent(config)
    first.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    first_code = first.stop()
    cordoned = the_runner(emulator)["unschedulable"]
    remembered = intent(tmp_path)["cordonedByAgent"]
    second = start_agent(config)
    second.wait_for("agent_cordon_undone")
    second.stop()

    assert first_code == 0
    assert cordoned is True
    assert remembered is True
    assert the_runner(emulator)["unschedulable"] is True  # cordoned again on stop
    assert second.named("runner_uncordoned")


def test_an_operators_cordon_is_not_undone_by_a_restart(
    emulator, config_file, start_agent, tmp_path
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    first = start_agent(config)
    first.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    runner_id = the_runner(emulator)["id"]

    set_unschedulable(emulator, runner_id, True)
    first.stop()
    second = start_agent(config)
    second.wait_for("runner_state_seen")
    time.sleep(0.5)
    second.stop()

    assert the_runner(emulator)["unschedulable"] is True
    assert not second.named("agent_cordon_undone")


def test_on_stop_drain_follows_the_runner_to_decommissioned(
    emulator, config_file, start_agent, tmp_path
):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "drain"\n'
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    code = agent.stop(timeout=30)

    assert code == 0
    assert the_runner(emulator)["state"] == "decommissioned"
    assert agent.named("stop_action_done")[0]["action"] == "drain"
    assert intent(tmp_path)["draining"] is True


def test_a_second_signal_abandons_a_drain_that_cannot_finish(
    emulator, config_file, start_agent
):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "drain"\n'
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    # A live sandbox keeps the runner from ever being decommissioned.
    control(
        emulator, "POST", "/sandboxes", json={"runnerId": the_runner(emulator)["id"]}
    )

    agent.signal(signal.SIGTERM)
    agent.wait_for("runner_draining")
    time.sleep(0.5)
    agent.signal(signal.SIGTERM)
    started = time.monotonic()
    code = agent.process.wait(timeout=15)

    assert time.monotonic() - started < 5
    assert code == 0
    assert agent.named("stop_action_abandoned")[0]["action"] == "drain"
    assert not agent.named("stop_action_failed")
    assert the_runner(emulator)["state"] != "decommissioned"


def beat_gaps_after(emulator, start: int, count: int) -> list[float]:
    """Gaps between the ``count`` beats that follow beat number ``start``."""
    beats = wait_until(
        lambda: (b := healthchecks(emulator)) and len(b) >= start + count + 1 and b
    )
    return gaps(beats[start + 1 : start + count + 1])


def test_sighup_slows_the_beat_down_and_speeds_it_up_again(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.2\n")
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(config.read_text().replace("interval = 0.2", "interval = 0.5"))
    agent.signal(signal.SIGHUP)
    agent.wait_for("config_reloaded")
    slow = beat_gaps_after(emulator, len(healthchecks(emulator)), 3)
    config.write_text(config.read_text().replace("interval = 0.5", "interval = 0.2"))
    agent.signal(signal.SIGHUP)
    agent.wait_for("config_reloaded", lambda e: len(agent.named("config_reloaded")) > 1)
    fast = beat_gaps_after(emulator, len(healthchecks(emulator)), 4)
    code = agent.stop()

    assert 0.4 <= statistics.median(slow) <= 0.6
    assert 0.15 <= statistics.median(fast) <= 0.3
    assert code == 0


def test_sighup_keeps_running_on_a_file_that_does_not_load(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(config.read_text().replace("interval = 0.3", "interval = 0.4"))
    agent.signal(signal.SIGHUP)
    reloaded = agent.wait_for("config_reloaded")
    config.write_text("[healthcheck\n")
    agent.signal(signal.SIGHUP)
    failed = agent.wait_for("config_reload_failed")
    time.sleep(0.8)
    alive = agent.process.poll() is None
    code = agent.stop()

    assert reloaded["changed"] == ["healthcheck"]
    assert "not valid TOML" in failed["error"]
    assert alive
    assert code == 0


def test_sighup_to_on_stop_none_leaves_the_runner_schedulable_at_stop(
    emulator, config_file, start_agent
):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "cordon"\n'
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(config.read_text().replace('"cordon"', '"none"'))
    agent.signal(signal.SIGHUP)
    reloaded = agent.wait_for("config_reloaded")
    code = agent.stop()

    assert reloaded["changed"] == ["lifecycle"]
    assert code == 0
    assert the_runner(emulator)["unschedulable"] is False
    assert not agent.named("stop_action_started")


def test_sighup_to_a_long_interval_warns_again(emulator, config_file, start_agent):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    warned_at_start = bool(agent.named("interval_too_long"))

    config.write_text(config.read_text().replace("interval = 0.3", 'interval = "25s"'))
    agent.signal(signal.SIGHUP)
    warning = agent.wait_for("interval_too_long")
    agent.stop()

    assert not warned_at_start
    assert warning["interval_seconds"] == 25.0


def test_sighup_names_each_change_that_needs_a_restart_and_keeps_the_old_value(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config)
    url = agent.local_url
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(
        'organization_id = "another-organization"\n'
        + config.read_text().replace('listen = "127.0.0.1:0"', 'listen = "off"')
    )
    agent.signal(signal.SIGHUP)
    warning = agent.wait_for("config_change_needs_restart")
    reloaded = agent.wait_for("config_reloaded")
    still_served = httpx.get(f"{url}/healthz").status_code
    agent.stop()

    assert warning["keys"] == ["organization_id", "local_api.listen"]
    assert reloaded["changed"] == []
    assert still_served == 200


def test_sighup_adds_a_check_that_is_reported_from_then_on(
    emulator, config_file, start_agent
):
    config = config_file('[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n')
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(
        config.read_text()
        + '[[checks]]\nname = "always-fails"\ncommand = ["false"]\ninterval = "0.2s"\n'
    )
    agent.signal(signal.SIGHUP)
    agent.wait_for("config_reloaded")
    changed = agent.wait_for(
        "runner_state_changed", lambda e: e["new_state"] == "unresponsive"
    )
    agent.stop()

    reported = the_runner(emulator)["lastHealthcheck"]["serviceHealth"]
    assert changed["old_state"] == "ready"
    assert reported == [
        {
            "serviceName": "always-fails",
            "healthy": False,
            "errorReason": reported[0]["errorReason"],
        }
    ]
