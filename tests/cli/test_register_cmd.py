"""``runner-agent register`` through the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.cli.helpers import (
    beat,
    control,
    eventually,
    fault,
    finish,
    org_client,
    registered,
    runners,
    start,
    stored_token,
)


def test_register_then_again_changes_nothing(cli, agent_env, emulator, state_dir):
    args = ("register", "--region-id", emulator.region_id, "--name", "host-7")

    first = cli(*args, "--json", env=agent_env)
    second = cli(*args, env=agent_env)

    created = json.loads(first.stdout)
    token = json.loads((state_dir / "identity.json").read_text())["runnerToken"]
    assert first.returncode == 0
    assert second.returncode == 0
    assert created["created"] is True
    assert created["identity"]["name"] == "host-7"
    assert "nothing changed" in second.stdout
    assert token not in first.stdout + second.stdout + first.stderr + second.stderr


def test_register_without_the_organization_key_names_where_to_set_it(
    cli, agent_env, emulator
):
    env = {k: v for k, v in agent_env.items() if k != "DAYTONA_API_KEY"}

    result = cli("register", "--region-id", emulator.region_id, env=env)

    assert result.returncode == 78
    assert "DAYTONA_API_KEY" in result.stderr
    assert "api_key_file" in result.stderr


def test_register_with_a_bad_name_flag_exits_78_naming_the_flag(cli, agent_env):
    result = cli("register", "--region-id", "eu", "--name", "bad name", env=agent_env)

    assert result.returncode == 78
    assert "runner.name (from flag --name)" in result.stderr


def test_register_against_an_unreachable_control_plane_exits_3(cli, agent_env):
    env = {**agent_env, "DAYTONA_API_URL": "http://127.0.0.1:9/api"}

    result = cli("register", "--region-id", "eu", env=env)

    assert result.returncode == 3
    assert "cannot reach" in result.stderr


def test_register_killed_between_create_and_identity_write_leaves_one_runner(
    cli, agent_env, emulator, state_dir
):
    args = ("register", "--region-id", emulator.region_id, "--name", "host-9")
    fault(emulator, method="POST", path="/runners", delayAfter=30)
    process = start(*args, env=agent_env)
    orphan = eventually(lambda: runners(emulator))[0]
    had_identity = (state_dir / "identity.json").exists()
    had_pending = (state_dir / "pending-registration.json").exists()
    process.kill()
    process.wait(timeout=30)

    again = cli(*args, "--json", env=agent_env)
    beat(emulator, stored_token(state_dir))
    left = runners(emulator)

    created = json.loads(again.stdout)
    assert (had_identity, had_pending) == (False, True)
    assert process.returncode == -signal.SIGKILL
    assert again.returncode == 0, again.stderr
    assert created["removedOrphan"] == orphan["id"]
    assert [runner["id"] for runner in left] == [created["identity"]["runnerId"]]
    assert left[0]["state"] == "ready"


def waits_for_lock(process: subprocess.Popen[str], lock: Path) -> bool:
    """Whether ``process`` is blocked waiting for the advisory lock on ``lock``."""
    inode = f":{os.stat(lock).st_ino} "
    with open("/proc/locks") as locks:
        return any(
            " -> " in line and f" {process.pid} " in line and inode in line
            for line in locks
        )


def test_two_registers_at_once_end_with_one_runner(agent_env, emulator, state_dir):
    args = ("register", "--region-id", emulator.region_id, "--name", "host-2")
    # The first create stays in flight long enough for the second process to
    # start and queue for the lock behind it.
    fault(emulator, method="POST", path="/runners", delay=4)
    first = start(*args, env=agent_env)
    eventually(lambda: not control(emulator, "GET", "faults"))
    second = start(*args, env=agent_env)
    eventually(lambda: waits_for_lock(second, state_dir / ".lock"))
    identity_while_waiting = (state_dir / "identity.json").exists()

    results = [finish(first), finish(second)]

    outputs = [result.stdout.split(" ")[0] for result in results]
    assert identity_while_waiting is False
    assert [result.returncode for result in results] == [0, 0]
    assert outputs == ["Registered", "Already"]
    assert len(runners(emulator)) == 1
    assert sorted(p.name for p in state_dir.glob("identity*.json")) == ["identity.json"]


def test_register_never_removes_another_hosts_runner_of_the_same_name(
    cli, agent_env, emulator, tmp_path
):
    """Hosts cloned from one image share a host name, the default runner name."""
    host_a = {**agent_env, "RUNNER_AGENT_STATE_DIR": str(tmp_path / "a")}
    host_b = {**agent_env, "RUNNER_AGENT_STATE_DIR": str(tmp_path / "b")}
    args = ("register", "--region-id", emulator.region_id, "--name", "dup")
    fault(emulator, method="POST", path="/runners", status=503)

    failed = cli(*args, env=host_a)
    other = cli(*args, "--json", env=host_b)
    again = cli(*args, env=host_a)
    renamed = cli(*args[:-1], "dup-2", env=host_a)

    others = json.loads(other.stdout)["identity"]["runnerId"]
    beat(emulator, stored_token(tmp_path / "b"))
    assert failed.returncode == 3
    assert other.returncode == 0
    assert again.returncode == 1
    assert "--name" in again.stderr
    assert renamed.returncode == 0, renamed.stderr
    assert sorted((r["name"], r["id"] == others) for r in runners(emulator)) == [
        ("dup", True),
        ("dup-2", False),
    ]


def decommissioned(emulator, runner_id: str) -> None:
    with org_client(emulator) as client:
        client.set_scheduling(runner_id, unschedulable=True)
        client.set_draining(runner_id, draining=True)
        eventually(lambda: client.get_runner(runner_id).state == "decommissioned")


def test_register_on_a_host_whose_runner_is_decommissioned_exits_5_until_forced(
    cli, agent_env, emulator, state_dir
):
    old = registered(emulator, state_dir)
    decommissioned(emulator, old.runner_id)
    args = ("register", "--region-id", emulator.region_id, "--name", "host-1")

    retired = cli(*args, env=agent_env)
    forced = cli(*args, "--force", "--json", env=agent_env)

    renewed = json.loads(forced.stdout)
    assert retired.returncode == 5
    assert "decommissioned" in retired.stderr
    assert "runner-agent deregister" in retired.stderr
    assert "register --force" in retired.stderr
    assert "nothing changed" not in retired.stdout
    assert forced.returncode == 0, forced.stderr
    assert renewed["replaced"] == old.runner_id
    assert [r["id"] for r in runners(emulator)] == [renewed["identity"]["runnerId"]]
    assert len(list(state_dir.glob("identity.replaced-*.json"))) == 1


def test_register_keeps_the_reported_addresses_given_by_flag(
    cli, agent_env, emulator, state_dir
):
    args = ("register", "--region-id", emulator.region_id, "--name", "host-3")
    addresses = (
        "--domain",
        "host-3.runners.example",
        "--runner-api-url",
        "https://host-3.runners.example:3003",
        "--proxy-url",
        "https://proxy.runners.example",
    )

    first = cli(*args, *addresses, env=agent_env)
    second = cli(*args, "--domain", "elsewhere.example", env=agent_env)

    stored = json.loads((state_dir / "identity.json").read_text())
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0
    assert "nothing changed" in second.stdout
    assert "--domain" in second.stdout
    assert stored["domain"] == "host-3.runners.example"
    assert stored["runnerApiUrl"] == "https://host-3.runners.example:3003"
    assert stored["proxyUrl"] == "https://proxy.runners.example"


def test_register_takes_the_organization_key_from_a_file_or_a_credential(
    agent_env, emulator, tmp_path
):
    key_file = tmp_path / "key"
    key_file.write_text(emulator.organization_key + "\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "daytona-api-key").write_text(emulator.organization_key)
    env = {k: v for k, v in agent_env.items() if k != "DAYTONA_API_KEY"}
    from_file = {
        **env,
        "DAYTONA_API_KEY_FILE": str(key_file),
        "RUNNER_AGENT_STATE_DIR": str(tmp_path / "a"),
    }
    from_credential = {
        **env,
        "CREDENTIALS_DIRECTORY": str(credentials),
        "RUNNER_AGENT_STATE_DIR": str(tmp_path / "b"),
    }
    region = ("register", "--region-id", emulator.region_id)

    results = [
        finish(process)
        for process in (
            start(*region, "--name", "from-file", env=from_file),
            start(*region, "--name", "from-credential", env=from_credential),
        )
    ]

    assert [result.returncode for result in results] == [0, 0]
    assert sorted(r["name"] for r in runners(emulator)) == [
        "from-credential",
        "from-file",
    ]


def test_register_on_a_host_whose_runner_was_deleted_exits_5_until_forced(
    cli, agent_env, emulator, state_dir
):
    old = registered(emulator, state_dir)
    with org_client(emulator) as client:
        client.set_scheduling(old.runner_id, unschedulable=True)
        client.delete_runner(old.runner_id)
    args = ("register", "--region-id", emulator.region_id, "--name", "host-1")

    gone = cli(*args, env=agent_env)
    forced = cli(*args, "--force", "--json", env=agent_env)

    assert gone.returncode == 5
    assert "register --force" in gone.stderr
    assert forced.returncode == 0
    assert json.loads(forced.stdout)["replaced"] == old.runner_id
    assert len(list(state_dir.glob("identity.replaced-*.json"))) == 1


def test_register_refusals_exit_with_their_codes(agent_env, emulator, tmp_path):
    with org_client(emulator) as client:
        client.create_runner(region_id=emulator.region_id, name="taken")
    wrong_key = {
        **agent_env,
        "DAYTONA_API_KEY": "dtn_wrong_organization_key_0000",
        "RUNNER_AGENT_STATE_DIR": str(tmp_path / "other"),
    }
    region = ("register", "--region-id", emulator.region_id)

    taken, refused, usage = [
        finish(process)
        for process in (
            start(*region, "--name", "taken", env=agent_env),
            start(*region, "--name", "fresh", env=wrong_key),
            start(*region, "--no-such-flag", env=agent_env),
        )
    ]

    assert taken.returncode == 1
    assert "choose another with --name" in taken.stderr
    assert refused.returncode == 4
    assert "dtn_wrong_organization_key_0000" not in refused.stderr
    assert usage.returncode == 2


def test_register_wait_ready_returns_once_a_healthcheck_is_accepted(
    agent_env, emulator, state_dir
):
    process = start(
        "register",
        "--region-id",
        emulator.region_id,
        "--wait-ready",
        "--timeout",
        "60s",
        "--json",
        env=agent_env,
    )
    eventually(lambda: (state_dir / "identity.json").exists())
    beat(emulator, stored_token(state_dir))

    result = finish(process)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "ready"
    assert "waiting for the first healthcheck" in result.stderr


def test_register_wait_ready_without_a_healthcheck_exits_1(cli, agent_env, emulator):
    result = cli(
        "register",
        "--region-id",
        emulator.region_id,
        "--wait-ready",
        "--timeout",
        "1",
        env=agent_env,
    )

    assert result.returncode == 1
    assert "is the service running" in result.stderr
