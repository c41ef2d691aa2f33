"""The state watch: each change logged once, hooks run with the event."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time

from structlog.testing import capture_logs

from runner_agent.config import HooksConfig
from runner_agent.daemon.hooks import Hooks
from runner_agent.subprocesses import REAP_TIMEOUT
from tests.cli.conftest import base_env
from tests.daemon.conftest import (
    AgentProcess,
    control,
    inject,
    org,
    requests_to,
    seconds,
    set_unschedulable,
    the_runner,
)


def hook_script(tmp_path, name: str):
    """A hook that appends its environment to a record, one block a run."""
    script = tmp_path / name
    record = tmp_path / f"{name}.env"
    script.write_text(f"#!/bin/sh\n{{ env; echo ----; }} >> {record}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def records(path) -> list[dict]:
    if not path.exists():
        return []
    blocks = path.read_text().split("----\n")
    return [
        dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        for block in blocks
        if block.strip()
    ]


def test_each_state_change_is_logged_once_and_runs_the_hook(
    emulator, config_file, start_agent, tmp_path
):
    script, record = hook_script(tmp_path, "on-change")
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n'
        f'[hooks]\non_state_change = "{script}"\n'
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    runner_id = the_runner(emulator)["id"]

    set_unschedulable(emulator, runner_id, True)
    agent.wait_for("runner_state_changed", lambda e: e["new_unschedulable"] is True)
    set_unschedulable(emulator, runner_id, False)
    agent.wait_for("runner_state_changed", lambda e: e["new_unschedulable"] is False)
    agent.wait_for("hook_ran", lambda e: len(records(record)) >= 3)
    agent.stop()

    changes = [
        (e["old_state"], e["new_state"], e["new_unschedulable"])
        for e in agent.named("runner_state_changed")
    ]
    hooks = records(record)
    assert changes == [
        ("initializing", "ready", False),
        ("ready", "ready", True),
        ("ready", "ready", False),
    ]
    assert hooks[1]["RUNNER_AGENT_EVENT"] == "state_changed"
    assert hooks[1]["RUNNER_AGENT_RUNNER_ID"] == runner_id
    assert hooks[1]["RUNNER_AGENT_OLD_UNSCHEDULABLE"] == "false"
    assert hooks[1]["RUNNER_AGENT_NEW_UNSCHEDULABLE"] == "true"
    assert hooks[0]["RUNNER_AGENT_NEW_STATE"] == "ready"
    assert "DAYTONA_API_KEY" not in hooks[0]
    assert emulator.organization_key not in record.read_text()


def test_decommissioned_runs_its_hook_and_can_end_the_agent(
    emulator, config_file, start_agent, tmp_path
):
    script, record = hook_script(tmp_path, "on-decommissioned")
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n'
        f'[hooks]\non_decommissioned = "{script}"\n'
        "[lifecycle]\nexit_when_decommissioned = true\n"
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    runner_id = the_runner(emulator)["id"]

    org(emulator, "PATCH", f"/runners/{runner_id}/draining", json={"draining": True})
    code = agent.process.wait(timeout=20)

    agent.stop()
    assert code == 0
    assert agent.named("runner_decommissioned")
    assert records(record)[0]["RUNNER_AGENT_EVENT"] == "decommissioned"
    assert control(emulator, "GET", "/state")["runners"][0]["state"] == "decommissioned"


def test_a_slow_hook_is_killed_after_its_timeout(
    emulator, config_file, start_agent, tmp_path
):
    script = tmp_path / "slow"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n'
        f'[hooks]\non_state_change = "{script}"\ntimeout = "0.5s"\n'
    )
    agent = start_agent(config)

    timed_out = agent.wait_for("hook_timed_out", timeout=20)
    agent.stop()

    assert timed_out["timeout_seconds"] == 0.5


def test_a_hook_is_not_told_where_the_keys_are_kept(emulator, config_file, tmp_path):
    """The daemon reads its key from a file; the hook learns neither place."""
    script, record = hook_script(tmp_path, "on-change")
    key_file = tmp_path / "api-key"
    key_file.write_text(emulator.organization_key)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n'
        f'[hooks]\non_state_change = "{script}"\n'
    )
    env = base_env(
        RUNNER_AGENT_CONFIG=str(config),
        DAYTONA_API_KEY_FILE=str(key_file),
        CREDENTIALS_DIRECTORY=str(credentials),
    )
    agent = AgentProcess([], env)
    try:
        agent.wait_for("hook_ran", lambda e: len(records(record)) >= 1)
    finally:
        agent.stop()

    hook = records(record)[0]
    assert hook["RUNNER_AGENT_EVENT"] == "state_changed"
    assert "DAYTONA_API_KEY_FILE" not in hook
    assert "CREDENTIALS_DIRECTORY" not in hook
    assert str(key_file) not in record.read_text()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_grandchild_that_left_the_group_does_not_hold_the_hook(tmp_path):
    """The timeout frees the hook's thread though a process keeps its output."""
    pidfile = tmp_path / "grandchild.pid"
    script = tmp_path / "escapes"
    script.write_text(f"#!/bin/sh\nsetsid sleep 30 &\necho $! > {pidfile}\nsleep 30\n")
    script.chmod(0o755)
    hooks = Hooks(HooksConfig(on_state_change=(str(script),), timeout=0.5))

    with capture_logs() as logs:
        started = time.monotonic()
        hooks.fire("state_changed", {})
        hooks.wait(10)
        took = time.monotonic() - started
    grandchild = int(pidfile.read_text())
    escaped = _alive(grandchild)
    with contextlib.suppress(ProcessLookupError):
        os.kill(grandchild, signal.SIGKILL)

    assert escaped
    assert took < 0.5 + REAP_TIMEOUT + 1.5
    assert [e["event"] for e in logs] == ["hook_timed_out"]


def test_the_watch_waits_out_a_retry_after(emulator, config_file, start_agent):
    config = config_file('[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n')
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    inject(emulator, method="GET", path="/runners/me", status=429, retryAfter=2)

    agent.wait_for("operation_recovered", lambda e: e["operation"] == "state_watch")
    agent.stop()

    reads = requests_to(emulator, "GET", "/runners/me")
    limited = next(i for i, e in enumerate(reads) if e["status"] == 429)
    assert seconds(reads[limited + 1]) - seconds(reads[limited]) >= 1.9


def test_the_watch_slows_down_on_a_refused_key(emulator, config_file, start_agent):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\nauth_retry_interval = "3s"\n'
        '[watch]\ninterval = "0.2s"\n'
    )
    agent = start_agent(config)
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")
    inject(emulator, method="GET", path="/runners/me", status=401, count=-1)

    agent.wait_for("operation_failing", lambda e: e["operation"] == "state_watch")
    time.sleep(2)
    reads = requests_to(emulator, "GET", "/runners/me")
    agent.stop()

    assert [e["status"] for e in reads].count(401) == 1
