"""``cordon``, ``uncordon``, ``drain``, ``undrain`` and ``deregister``.

Each test prepares its runners in-process (one state directory each) and
runs the commands under test side by side as real subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import signal
from datetime import UTC, datetime, timedelta

from runner_agent import lifecycle
from runner_agent.cli.lifecycle_cmds import Follow, fresh_for
from runner_agent.config import FlagValue, load_config
from runner_agent.models import Runner
from runner_agent.state import StateDir
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


def host(agent_env, tmp_path, name: str) -> dict[str, str]:
    """The environment of a host whose state lives in ``tmp_path / name``."""
    return {**agent_env, "RUNNER_AGENT_STATE_DIR": str(tmp_path / name)}


def by_name(emulator) -> dict[str, dict]:
    return {runner["name"]: runner for runner in runners(emulator)}


def secrets_of(emulator, tmp_path) -> list[str]:
    tokens = [
        json.loads(path.read_text())["runnerToken"]
        for path in tmp_path.glob("*/identity.json")
    ]
    return [emulator.organization_key, emulator.proxy_key, *tokens]


def test_cordon_uncordon_and_undrain_change_this_runner(agent_env, emulator, tmp_path):
    names = ("a1", "b1", "c1")
    ids = {name: registered(emulator, tmp_path / name, name) for name in names}
    # A live sandbox keeps the draining runner from being decommissioned.
    control(emulator, "POST", "sandboxes", {"runnerId": ids["c1"].runner_id})
    with org_client(emulator) as client:
        lifecycle.cordon(client, StateDir(tmp_path / "b1"), ids["b1"].runner_id)
        lifecycle.drain(client, StateDir(tmp_path / "c1"), ids["c1"].runner_id)
    secrets = secrets_of(emulator, tmp_path)

    results = [
        finish(process)
        for process in (
            start("cordon", "--json", env=host(agent_env, tmp_path, "a1")),
            start("uncordon", "--json", env=host(agent_env, tmp_path, "b1")),
            start("undrain", env=host(agent_env, tmp_path, "c1")),
        )
    ]

    cordoned, uncordoned = (json.loads(r.stdout) for r in results[:2])
    seen = by_name(emulator)
    output = "".join(r.stdout + r.stderr for r in results)
    assert [r.returncode for r in results] == [0, 0, 0]
    assert cordoned["runner"]["unschedulable"] is True
    assert uncordoned["runner"]["unschedulable"] is False
    assert "no longer draining" in results[2].stdout
    assert (seen["a1"]["unschedulable"], seen["b1"]["unschedulable"]) == (True, False)
    assert seen["c1"]["draining"] is False
    assert StateDir(tmp_path / "c1").load_intent().draining is False
    assert not any(secret in output for secret in secrets)


def test_commands_on_this_runner_exit_with_the_documented_codes(
    agent_env, emulator, tmp_path
):
    registered(emulator, tmp_path / "a1", "a1")
    retired = registered(emulator, tmp_path / "d1", "d1")
    with org_client(emulator) as client:
        lifecycle.drain(client, StateDir(tmp_path / "d1"), retired.runner_id)
    eventually(lambda: by_name(emulator)["d1"]["state"] == "decommissioned")
    env_a = host(agent_env, tmp_path, "a1")
    no_org_key = {k: v for k, v in env_a.items() if k != "DAYTONA_API_KEY"}
    wrong_key = {
        **env_a,
        "DAYTONA_API_KEY": "dtn_not_the_organization_key_00",
    }

    results = [
        finish(process)
        for process in (
            start("cordon", env=host(agent_env, tmp_path, "nobody")),
            start("uncordon", env=no_org_key),
            start("undrain", env=wrong_key),
            start("drain", env=env_a),
            start("deregister", env=env_a),
            start("drain", "--yes", "--timeout", "soon", env=agent_env),
            start("undrain", env=host(agent_env, tmp_path, "d1")),
        )
    ]

    not_registered, no_key, refused, drain, deregister, bad_timeout, final = results
    assert not_registered.returncode == 5
    assert "runner-agent register" in not_registered.stderr
    assert no_key.returncode == 78
    assert "DAYTONA_API_KEY" in no_key.stderr
    assert "api_key_file" in no_key.stderr
    assert refused.returncode == 4
    assert "dtn_not_the_organization_key_00" not in refused.stderr
    assert (drain.returncode, deregister.returncode) == (2, 2)
    assert "retires for good" in drain.stderr
    assert "pass --yes" in deregister.stderr
    assert bad_timeout.returncode == 2
    assert final.returncode == 1
    assert "already decommissioned, which is final" in final.stderr
    assert by_name(emulator)["a1"]["unschedulable"] is False
    assert all(r.stderr.count("\n") == 1 for r in results)


def test_drain_wait_follows_to_decommissioned_or_exits_1_at_the_timeout(
    agent_env, emulator, tmp_path
):
    for name in ("busy", "idle", "held"):
        identity = registered(emulator, tmp_path / name, name)
        if name != "idle":
            control(emulator, "POST", "sandboxes", {"runnerId": identity.runner_id})
    wait = ("--yes", "--wait", "--timeout")

    idle = start("drain", *wait, "60", "--json", env=host(agent_env, tmp_path, "idle"))
    stuck = start("drain", *wait, "1s", env=host(agent_env, tmp_path, "busy"))
    held = start("deregister", "--yes", env=host(agent_env, tmp_path, "held"))
    for line in held.stderr:
        if "deregister: draining" in line:
            break
    held.send_signal(signal.SIGINT)
    idle, stuck, held = finish(idle), finish(stuck), finish(held)

    drained = json.loads(idle.stdout)
    assert idle.returncode == 0, idle.stderr
    assert drained["runner"]["state"] == "decommissioned"
    assert drained["intent"]["draining"] is True
    assert "draining: decommissioned" in idle.stderr
    assert stuck.returncode == 1
    assert "stays draining" in stuck.stderr
    assert by_name(emulator)["busy"]["draining"] is True
    assert held.returncode == 130
    assert "run runner-agent deregister again" in held.stderr
    assert by_name(emulator)["held"]["unschedulable"] is True
    assert (tmp_path / "held" / "identity.json").exists()


def test_deregister_interrupted_at_each_step_is_finished_by_a_rerun(
    agent_env, emulator, tmp_path
):
    ids = {
        name: registered(emulator, tmp_path / name, name)
        for name in ("drain", "delete", "wait", "nowait", "gone")
    }
    fault(
        emulator,
        method="PATCH",
        path=f"/runners/{ids['drain'].runner_id}/draining",
        status=503,
    )
    doomed = ids["delete"].runner_id
    fault(emulator, method="DELETE", path=f"/runners/{doomed}", status=500)
    placed = {"runnerId": ids["wait"].runner_id}
    sandbox = control(emulator, "POST", "sandboxes", placed)
    with org_client(emulator) as client:
        client.set_scheduling(ids["gone"].runner_id, unschedulable=True)
        client.delete_runner(ids["gone"].runner_id)
    secrets = secrets_of(emulator, tmp_path)

    def deregister(name: str, *extra: str, timeout: str = "60"):
        env = host(agent_env, tmp_path, name)
        return start("deregister", "--yes", "--timeout", timeout, *extra, env=env)

    first = [
        finish(process)
        for process in (
            deregister("drain"),
            deregister("delete"),
            deregister("wait", timeout="1"),
            deregister("nowait", "--no-wait"),
            deregister("gone", "--json"),
        )
    ]
    left_after_first = sorted(by_name(emulator))
    control(emulator, "DELETE", f"sandboxes/{sandbox['id']}")
    second = [
        finish(process) for process in [deregister(name, "--json") for name in ids]
    ]

    output = "".join(r.stdout + r.stderr for r in first + second)
    assert [r.returncode for r in first] == [3, 3, 1, 0, 0]
    assert "stays cordoned and draining" in first[2].stderr
    assert "deregister again" in first[3].stdout
    assert json.loads(first[4].stdout)["outcome"] == "already_deleted"
    assert left_after_first == ["delete", "drain", "nowait", "wait"]
    assert [r.returncode for r in second] == [0, 0, 0, 0, 0]
    assert "deregister: cordoned" in second[0].stderr
    assert "deregister: decommissioned" in second[0].stderr
    assert "s elapsed" in second[0].stderr
    assert [json.loads(r.stdout)["outcome"] for r in second] == [
        "deleted",
        "deleted",
        "deleted",
        "deleted",
        "not_registered",
    ]
    assert runners(emulator) == []
    assert list(tmp_path.glob("*/identity.json")) == []
    assert list(tmp_path.glob("*/intent.json")) == []
    assert not any(secret in output for secret in secrets)


def test_changes_to_a_deleted_runner_exit_5_and_say_how_to_register_anew(
    agent_env, emulator, tmp_path
):
    gone = registered(emulator, tmp_path / "gone", "gone")
    with org_client(emulator) as client:
        client.set_scheduling(gone.runner_id, unschedulable=True)
        client.delete_runner(gone.runner_id)
    env = host(agent_env, tmp_path, "gone")

    results = [
        finish(start(*command, env=env))
        for command in (
            ("cordon",),
            ("uncordon", "--json"),
            ("drain", "--yes"),
            ("undrain",),
        )
    ]

    assert [r.returncode for r in results] == [5, 5, 5, 5]
    for result in results:
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert f"gone ({gone.runner_id}) no longer exists" in result.stderr
        assert "runner-agent register --force" in result.stderr


def test_uncordon_of_a_decommissioned_runner_says_it_is_final(
    agent_env, emulator, tmp_path
):
    retired = registered(emulator, tmp_path / "d1", "d1")
    with org_client(emulator) as client:
        lifecycle.cordon(client, StateDir(tmp_path / "d1"), retired.runner_id)
        lifecycle.drain(client, StateDir(tmp_path / "d1"), retired.runner_id)
    eventually(lambda: by_name(emulator)["d1"]["state"] == "decommissioned")

    result = finish(start("uncordon", env=host(agent_env, tmp_path, "d1")))

    assert result.returncode == 0, result.stderr
    assert "decommissioned, which is final" in result.stdout
    assert "takes no new sandboxes" in result.stdout
    assert "it takes new sandboxes" not in result.stdout
    assert "still draining" not in result.stdout


def test_drain_progress_shows_the_sandbox_count_only_from_a_recent_healthcheck(
    agent_env, emulator, tmp_path
):
    for name in ("silent", "beating"):
        identity = registered(emulator, tmp_path / name, name)
        control(emulator, "POST", "sandboxes", {"runnerId": identity.runner_id})
    beat(emulator, stored_token(tmp_path / "beating"), currentStartedSandboxes=1)
    wait = ("drain", "--yes", "--wait", "--timeout", "1s")

    silent, beating = [
        finish(process)
        for process in [
            start(*wait, env=host(agent_env, tmp_path, name))
            for name in ("silent", "beating")
        ]
    ]

    assert (silent.returncode, beating.returncode) == (1, 1)
    assert "initializing, sandboxes unknown (no healthcheck yet)," in silent.stderr
    assert "started sandbox" not in silent.stderr
    assert "draining: ready, 1 started sandbox," in beating.stderr


def runner_checked(seconds_ago: float, count: float) -> Runner:
    checked = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return Runner.from_api(
        {
            "id": "3f1c2a9e-0000-4000-8000-000000000001",
            "name": "r1",
            "region": "eu",
            "state": "ready",
            "unschedulable": True,
            "currentStartedSandboxes": count,
            "lastChecked": checked.isoformat().replace("+00:00", "Z"),
        }
    )


def test_progress_hides_a_count_older_than_the_fresh_limit():
    stream = io.StringIO()

    with Follow("deregister", stream, fresh_for=30.0) as follow:
        follow(runner_checked(5, 2), 1.0)
        follow(runner_checked(300, 0), 2.0)

    lines = stream.getvalue().splitlines()
    assert lines == [
        "deregister: ready, 2 started sandboxes, 1s elapsed",
        "deregister: ready, sandboxes unknown (no recent healthcheck, "
        "last 5m ago), 2s elapsed",
    ]


def test_a_healthcheck_counts_as_recent_for_three_beats_and_at_most_60_seconds():
    def interval(value: str) -> float:
        every = {"healthcheck.interval": FlagValue("--interval", value)}
        return fresh_for(load_config(os.devnull, env={}, flags=every))

    assert interval("10s") == 30.0
    assert interval("500ms") == 1.5
    assert interval("30s") == 60.0
