"""An api_url that does not lead to the runners API stops the agent with 78."""

from __future__ import annotations

from tests.daemon.conftest import control, inject, the_runner


def without_api(config, emulator) -> None:
    """Point the configuration at the emulator's root, as if /api were left out."""
    config.write_text(config.read_text().replace(emulator.url, emulator.base_url))


def test_registering_at_a_wrong_api_url_exits_78_with_one_line_naming_it(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    without_api(config, emulator)

    agent = start_agent(config)
    code = agent.process.wait(timeout=15)
    agent.stop()

    lines = agent.log_text().strip().splitlines()
    assert code == 78
    assert len(lines) == 1
    assert lines[0].startswith(f"runner-agent: api_url (from {config}): ")
    assert emulator.base_url in lines[0]
    assert "does not serve the runners API" in lines[0]
    assert control(emulator, "GET", "/state")["runners"] == []


def test_a_registered_agent_at_a_wrong_api_url_exits_78_and_says_no_runner_deleted(
    emulator, config_file, start_agent
):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    first = start_agent(config)
    first.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    first.stop()
    without_api(config, emulator)

    agent = start_agent(config)
    code = agent.process.wait(timeout=15)
    agent.stop()

    text = agent.log_text()
    errors = [e for e in agent.events if e.get("level") == "error"]
    last = text.strip().splitlines()[-1]
    assert code == 78
    assert "runner_deleted" not in text
    assert "--force" not in text
    assert errors == []
    assert not agent.named("operation_failing")
    assert last.startswith("runner-agent: api_url")
    assert emulator.base_url in last
    assert agent.named("agent_stopped")[0]["exit_code"] == 78


def test_a_healthcheck_path_gone_mid_run_exits_78_not_deleted(
    emulator, config_file, start_agent
):
    agent = start_agent(config_file("[healthcheck]\ninterval = 0.3\n"))
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    gone = "Cannot POST /api/runners/healthcheck"
    inject(emulator, path="/runners/healthcheck", status=404, message=gone, count=-1)

    code = agent.process.wait(timeout=15)
    agent.stop()

    last = agent.log_text().strip().splitlines()[-1]
    assert code == 78
    assert not agent.named("runner_deleted")
    assert not agent.named("stop_action_started")
    assert gone in last
    assert the_runner(emulator)["state"] != "decommissioned"
