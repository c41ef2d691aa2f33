"""The daemon's log lines: each one after registration names its runner."""

from __future__ import annotations

from tests.daemon.conftest import inject, set_unschedulable, the_runner


def test_every_line_after_registration_carries_the_runner_id(
    emulator, config_file, start_agent
):
    config = config_file('[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n')
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    runner_id = the_runner(emulator)["id"]
    inject(emulator, path="/runners/healthcheck", status=503, count=2)
    set_unschedulable(emulator, runner_id, True)

    agent.wait_for("operation_recovered")
    agent.wait_for("runner_state_changed", lambda e: e["new_unschedulable"] is True)
    agent.stop()

    names = [event["event"] for event in agent.events]
    after = agent.events[names.index("runner_registered") :]
    unnamed = [e for e in after if e.get("runner_id") != runner_id]
    # Logged from the heartbeat's and the watch's threads, not the main one.
    assert {"operation_failing", "operation_recovered"} <= set(names)
    assert names.count("runner_state_changed") == 2
    assert unnamed == []
