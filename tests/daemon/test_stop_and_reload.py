"""Stopping (with the on_stop actions) and reloading on SIGHUP."""

from __future__ import annotations

import json
import signal
import time

from tests.daemon.conftest import (
    control,
    set_unschedulable,
    the_runner,
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
    assert agent.named("stop_action_failed")
    assert the_runner(emulator)["state"] != "decommissioned"


def test_sighup_applies_a_good_file_and_keeps_running_on_a_bad_one(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(config.read_text().replace("interval = 0.3", "interval = 0.6"))
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


def test_sighup_warns_about_changes_that_need_a_restart(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    config.write_text(
        config.read_text().replace('listen = "127.0.0.1:0"', 'listen = "off"')
    )
    agent.signal(signal.SIGHUP)
    warning = agent.wait_for("config_change_needs_restart")
    agent.stop()

    assert warning["keys"] == ["local_api"]


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
