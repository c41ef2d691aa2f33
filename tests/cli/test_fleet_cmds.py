"""``runner-agent runners ...``: the admin API on any runner, and ``watch``."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
import uuid

from runner_agent import lifecycle
from runner_agent.state import StateDir
from tests.cli.conftest import COMMAND
from tests.cli.helpers import (
    beat,
    control,
    fault,
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
    assert "the organization key was refused" in results[11].stderr
    assert "DAYTONA_API_KEY or api_key_file" in results[11].stderr
    for secret in (busy_key, idle_key, emulator.organization_key, emulator.proxy_key):
        assert secret not in hidden
    assert "dtn_wrong_fleet_key_000000" not in hidden


def test_proxy_look_ups_exit_78_without_the_key_4_when_refused_5_when_unknown(
    agent_env, emulator
):
    holder, _ = create(emulator, "holder")
    control(emulator, "POST", "snapshots", {"runnerId": holder, "ref": "base:1"})
    unknown = str(uuid.uuid4())
    no_key = {k: v for k, v in agent_env.items() if k != "DAYTONA_PROXY_API_KEY"}
    wrong_key = {**agent_env, "DAYTONA_PROXY_API_KEY": "dtn_not_the_proxy_key_0000"}

    commands = [
        (("by-sandbox", unknown), no_key),
        (("by-snapshot-ref", "base:1"), no_key),
        (("by-sandbox", unknown), wrong_key),
        (("by-snapshot-ref", "base:1", "--json"), wrong_key),
        (("by-sandbox", unknown, "--json"), agent_env),
        (("by-snapshot-ref", "nothing:0"), agent_env),
    ]
    results = [
        finish(process)
        for process in [start("runners", *args, env=env) for args, env in commands]
    ]

    missing = results[:2]
    refused = results[2:4]
    not_found, no_holder = results[4:]
    assert [r.returncode for r in results] == [78, 78, 4, 4, 5, 0]
    for result in missing:
        assert "needs the proxy key" in result.stderr
        assert "DAYTONA_PROXY_API_KEY or proxy_api_key_file" in result.stderr
    for result in refused:
        assert "the proxy key was refused" in result.stderr
        assert "DAYTONA_PROXY_API_KEY" in result.stderr
        assert "dtn_not_the_proxy_key_0000" not in result.stderr
    assert all(r.stdout == "" for r in results[:5])
    assert all(r.stderr.count("\n") == 1 for r in results[:5])
    assert unknown in not_found.stderr
    assert no_holder.stdout == "No runner holds nothing:0.\n"


def test_a_key_without_the_permission_exits_4_naming_what_it_lacks(cli, agent_env):
    proxy_as_organization = {
        **agent_env,
        "DAYTONA_API_KEY": agent_env["DAYTONA_PROXY_API_KEY"],
    }

    result = cli("runners", "list", env=proxy_as_organization)

    assert result.returncode == 4
    assert "403" in result.stderr
    assert "the organization key lacks the permission to read runners" in (
        result.stderr
    )
    assert "DAYTONA_API_KEY or api_key_file" in result.stderr


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
    every = ("runners", "watch", "--interval", "200ms")

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
    assert "every 0.2s" in first_line
    assert stopped.stderr == ""


def test_watch_exits_3_when_no_refresh_reaches_the_control_plane(agent_env):
    offline = {**agent_env, "DAYTONA_API_URL": "http://127.0.0.1:9/api"}
    every = ("runners", "watch", "--interval", "0.1s", "--count", "2")

    tables, lines = run_together([every, (*every, "--json")], env=offline)

    for result in (tables, lines):
        assert result.returncode == 3
        assert result.stdout == ""
        assert result.stderr.count("refresh failed at") == 2
        assert "cannot reach the control plane" in result.stderr


def test_watch_stops_at_once_with_exit_4_when_the_key_is_refused(agent_env, emulator):
    wrong_key = {**agent_env, "DAYTONA_API_KEY": "dtn_wrong_watch_key_00000"}
    control(emulator, "DELETE", "requests")

    result = finish(
        start("runners", "watch", "--interval", "0.1s", "--count", "5", env=wrong_key)
    )

    asked = [
        entry
        for entry in control(emulator, "GET", "requests")
        if entry["path"] == "/api/runners"
    ]
    assert result.returncode == 4
    assert result.stdout == ""
    assert "the organization key was refused" in result.stderr
    assert "dtn_wrong_watch_key_00000" not in result.stderr
    assert len(asked) == 1


def test_watch_reports_a_failed_refresh_on_stderr_and_goes_on(agent_env, emulator):
    create(emulator, "watched")
    fault(emulator, method="GET", path="/runners", status=503, count=1)

    result = finish(
        start(
            "runners",
            "watch",
            "--interval",
            "0.1s",
            "--count",
            "2",
            "--json",
            env=agent_env,
        )
    )

    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert [d["runners"][0]["name"] for d in documents] == ["watched"]
    assert result.stderr.count("refresh failed at") == 1
    assert "503" in result.stderr


def test_watch_waits_as_long_as_retry_after_says(agent_env, emulator):
    create(emulator, "watched")
    fault(emulator, method="GET", path="/runners", status=429, retryAfter=1)
    every = ("runners", "watch", "--interval", "0.1s", "--count", "2", "--json")

    started = time.monotonic()
    result = finish(start(*every, env=agent_env))
    took = time.monotonic() - started

    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert "next in 1s" in result.stderr
    assert took >= 1.0


def test_watch_refuses_an_interval_that_is_not_a_duration(cli, agent_env):
    unreadable = cli("runners", "watch", "--interval", "soon", env=agent_env)
    too_short = cli("runners", "watch", "--interval", "1ms", env=agent_env)

    assert (unreadable.returncode, too_short.returncode) == (2, 2)
    assert "--interval: 'soon' is not a duration" in unreadable.stderr
    assert "shorter than 100ms" in too_short.stderr


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
        # The agent's own cordon asks its runner first, with the runner key.
        client.credentials = client.credentials.with_runner(mine.token)
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
