"""``runner-agent run`` as a real process, stopped by real signals."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

import httpx

from tests.cli.conftest import COMMAND


def start_agent(env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "run", *args],
        env={**env, "RUNNER_AGENT_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 10.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def emulated_runners(emulator) -> list[dict]:
    return httpx.get(f"{emulator.control_url}/state").json()["runners"]


def test_run_registers_beats_and_stops_cleanly_on_sigterm(
    emulator, agent_env, state_dir
):
    env = {**agent_env}
    agent = start_agent(env, "--interval", "0.2s", "--region-id", emulator.region_id)
    try:
        runners = wait_for(
            lambda: [
                r for r in emulated_runners(emulator) if r["healthcheckCount"] >= 3
            ]
        )
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=10)
    finally:
        agent.kill()

    identity = json.loads((state_dir / "identity.json").read_text())
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line]
    assert agent.returncode == 0
    assert runners[0]["id"] == identity["runnerId"]
    assert runners[0]["state"] == "ready"
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state_dir / "identity.json").st_mode) == 0o600
    assert events[0] == "runner_registered"
    assert events[-1] == "agent_stopped"
    assert emulator.organization_key not in stderr
    assert identity["runnerToken"] not in stderr


def test_run_without_identity_or_region_exits_78_with_one_line(cli, agent_env):
    result = cli("run", env=agent_env, timeout=30)

    assert result.returncode == 78
    assert result.stderr.strip().count("\n") == 0
    assert "runner.region_id" in result.stderr
