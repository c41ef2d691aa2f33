"""``runner-agent runners ...``: the admin API on any runner, and ``watch``."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import uuid

from runner_agent import lifecycle
from runner_agent.state import StateDir
from tests.cli.conftest import COMMAND
from tests.cli.helpers import (
    beat,
    control,
    finish,
    org_client,
    registered,
    run_together,
    runners,
    start,
)


def create(emulator, name: str) -> tuple[str, str]:
    """A runner made with the organization key: its id and its key."""
    with org_client(emulator) as client:
        created = client.create_runner(region_id=emulator.region_id, name=name)
    return created.id, created.api_key.reveal()


def test_fleet_look_ups_print_tables_and_json_with_keys_masked(agent_env, emulator):
    busy, busy_key = create(emulator, "busy-host")
    idle, idle_key = create(emulator, "idle-host")
    beat(emulator, busy_key, currentCpuUsagePercentage=12.0)
    sandbox = str(uuid.uuid4())
    control(emulator, "POST", "sandboxes", {"runnerId": busy, "id": sandbox})
    control(emulator, "POST", "snapshots", {"runnerId": idle, "ref": "base:1"})
    unknown = str(uuid.uuid4())
    no_proxy_key = {k: v for k, v in agent_env.items() if k != "DAYTONA_PROXY_API_KEY"}
    unreachable = {**agent_env, "DAYTONA_API_URL": "http://127.0.0.1:9/api"}
    wrong_key = {**agent_env, "DAYTONA_API_KEY": "dtn_wrong_fleet_key_000000"}

    commands = [
        (("list", "--json"), agent_env),
        (("list", "--region-id", emulator.region_id), agent_env),
        (("get", busy, "--json"), agent_env),
        (("full", busy, "--json"), agent_env),
        (("by-sandbox", sandbox), agent_env),
        (("by-snapshot-ref", "base:1", "--json"), agent_env),
        (("full", idle, "--json", "--show-secrets"), agent_env),
        (("get", unknown), agent_env),
        (("get", "not-an-id"), agent_env),
        (("full", busy), no_proxy_key),
        (("list",), unreachable),
        (("list",), wrong_key),
    ]
    results = [
        finish(process)
        for process in [start("runners", *args, env=env) for args, env in commands]
    ]

    listed, table, got, full, by_sandbox, by_ref, revealed = results[:7]
    codes = [r.returncode for r in results]
    hidden = "".join(r.stdout + r.stderr for r in results[:6] + results[7:])
    assert codes == [0, 0, 0, 0, 0, 0, 0, 5, 2, 78, 3, 4]
    assert sorted(r["name"] for r in json.loads(listed.stdout)) == [
        "busy-host",
        "idle-host",
    ]
    assert table.stdout.split()[:3] == ["id", "name", "state"]
    assert "busy-host" in table.stdout
    assert " 12 " in table.stdout
    assert json.loads(got.stdout)["currentStartedSandboxes"] == 2
    assert json.loads(full.stdout)["apiKey"] == f"****{busy_key[-4:]}"
    assert "busy-host" in by_sandbox.stdout
    assert json.loads(by_ref.stdout)[0]["runnerId"] == idle
    assert json.loads(revealed.stdout)["apiKey"] == idle_key
    assert "DAYTONA_PROXY_API_KEY" in results[9].stderr
    for secret in (busy_key, idle_key, emulator.organization_key, emulator.proxy_key):
        assert secret not in hidden
    assert "dtn_wrong_fleet_key_000000" not in hidden


def test_fleet_changes_cordon_drain_and_delete_with_confirmation(agent_env, emulator):
    cordon_me, _ = create(emulator, "cordon-me")
    drain_me, _ = create(emulator, "drain-me")
    delete_me, _ = create(emulator, "delete-me")
    keep_me, _ = create(emulator, "keep-me")
    with org_client(emulator) as client:
        client.set_scheduling(delete_me, unschedulable=True)

    commands = [
        ("scheduling", cordon_me, "--disable", "--json"),
        ("draining", drain_me, "--on"),
        ("delete", delete_me, "--yes", "--json"),
        ("delete", keep_me),
        ("delete", keep_me, "--yes"),
        ("scheduling", keep_me),
    ]
    results = [
        finish(process)
        for process in [start("runners", *args, env=agent_env) for args in commands]
    ]

    left = {runner["name"]: runner for runner in runners(emulator)}
    assert [r.returncode for r in results] == [0, 0, 0, 2, 1, 2]
    assert json.loads(results[0].stdout)["unschedulable"] is True
    assert json.loads(results[2].stdout) == {
        "deleted": True,
        "runnerId": delete_me,
        "name": "delete-me",
    }
    assert "pass --yes" in results[3].stderr
    assert "--disable" in results[4].stderr
    assert "--enable or --disable" in results[5].stderr
    assert sorted(left) == ["cordon-me", "drain-me", "keep-me"]
    assert left["cordon-me"]["unschedulable"] is True
    assert left["drain-me"]["draining"] is True


def test_watch_prints_a_table_per_refresh_and_stops_cleanly(agent_env, emulator):
    create(emulator, "watched")
    every = ("runners", "watch", "--interval", "0.2")

    counted = start(*every, "--count", "2", env=agent_env)
    as_json = start(*every, "--count", "2", "--json", env=agent_env)
    endless = start(*every, env=agent_env)
    first_line = endless.stdout.readline()
    endless.send_signal(signal.SIGINT)
    tables, lines, stopped = finish(counted), finish(as_json), finish(endless)

    documents = [json.loads(line) for line in lines.stdout.splitlines()]
    assert (tables.returncode, lines.returncode, stopped.returncode) == (0, 0, 0)
    assert tables.stdout.count("1 runner at") == 2
    assert tables.stdout.count("watched") == 2
    assert [d["runners"][0]["name"] for d in documents] == ["watched", "watched"]
    assert "1 runner at" in first_line
    assert stopped.stderr == ""


def test_watch_redraws_in_place_on_a_terminal(agent_env, emulator):
    create(emulator, "watched")
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, "runners", "watch", "--interval", "0.2", "--count", "2"],
        env=agent_env,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
    )
    os.close(secondary)

    process.wait(timeout=60)
    screen = read_all(main)

    assert process.returncode == 0
    assert screen.count("\x1b[H\x1b[2J") == 2
    assert "Ctrl-C to stop" in screen


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def test_delete_without_a_terminal_refuses_before_any_request(agent_env):
    runner_id = str(uuid.uuid4())
    unreachable = {**agent_env, "DAYTONA_API_URL": "http://127.0.0.1:9/api"}
    no_key = {k: v for k, v in agent_env.items() if k != "DAYTONA_API_KEY"}

    results = [
        finish(start("runners", "delete", runner_id, env=env))
        for env in (unreachable, no_key)
    ]

    assert [r.returncode for r in results] == [2, 2]
    assert all("pass --yes" in r.stderr for r in results)


def test_admin_changes_to_this_hosts_runner_keep_the_intent_record(
    agent_env, emulator, state_dir
):
    mine = registered(emulator, state_dir)
    state = StateDir(state_dir)
    # A live sandbox keeps the draining runner from becoming decommissioned.
    control(emulator, "POST", "sandboxes", {"runnerId": mine.runner_id})
    with org_client(emulator) as client:
        lifecycle.cordon(client, state, mine.runner_id, by_agent=True)

    changed = run_together(
        [
            ("runners", "draining", mine.runner_id, "--on"),
            ("runners", "scheduling", mine.runner_id, "--enable"),
        ],
        env=agent_env,
    )
    after_changes = state.load_intent()
    status = finish(start("status", "--json", env=agent_env))
    undone = finish(
        start("runners", "draining", mine.runner_id, "--off", env=agent_env)
    )

    assert [r.returncode for r in changed] == [0, 0]
    assert after_changes.draining is True
    assert after_changes.draining_since
    assert after_changes.cordoned_by_agent is False
    assert json.loads(status.stdout)["intent"]["draining"] is True
    assert undone.returncode == 0
    assert state.load_intent().draining is False
    assert runners(emulator)[0]["draining"] is False
