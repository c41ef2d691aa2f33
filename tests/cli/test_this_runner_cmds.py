"""``status``, ``healthcheck`` and ``metrics`` through the command line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from daytona_api_client.models import RunnerHealthcheck

from runner_agent import lifecycle
from runner_agent.state import StateDir
from tests.cli.helpers import (
    beat,
    control,
    finish,
    org_client,
    registered,
    start,
    stored_token,
)


def register(cli, env, emulator) -> None:
    result = cli("register", "--region-id", emulator.region_id, env=env)
    assert result.returncode == 0, result.stderr


def test_healthcheck_then_status_shows_a_ready_runner(cli, agent_env, emulator):
    register(cli, agent_env, emulator)

    sent = cli("healthcheck", "--json", env=agent_env)
    status = cli("status", "--json", env=agent_env)

    body = json.loads(sent.stdout)["body"]
    seen = json.loads(status.stdout)
    assert sent.returncode == 0
    assert status.returncode == 0
    assert RunnerHealthcheck.from_dict(body).additional_properties == {}
    assert seen["controlPlane"]["state"] == "ready"
    assert seen["controlPlane"]["apiKey"].startswith("****")


def test_healthcheck_exits_4_when_refused_3_when_unreachable_5_when_deleted(
    agent_env, emulator, tmp_path
):
    registered(emulator, tmp_path / "offline", "offline-host")
    gone = registered(emulator, tmp_path / "gone", "gone-host")
    with org_client(emulator) as client:
        client.set_scheduling(gone.runner_id, unschedulable=True)
        client.delete_runner(gone.runner_id)
    wrong_key = "dtn_not_this_runners_key_0000"

    def env(name: str, **extra: str) -> dict[str, str]:
        return {**agent_env, "RUNNER_AGENT_STATE_DIR": str(tmp_path / name), **extra}

    results = [
        finish(process)
        for process in (
            start("healthcheck", env=env("empty", DAYTONA_RUNNER_TOKEN=wrong_key)),
            start(
                "healthcheck",
                env=env("offline", DAYTONA_API_URL="http://127.0.0.1:9/api"),
            ),
            start("healthcheck", "--json", env=env("gone")),
        )
    ]

    refused, unreachable, deleted = results
    assert [r.returncode for r in results] == [4, 3, 5]
    assert all(r.stdout == "" for r in results)
    assert all(r.stderr.count("\n") == 1 for r in results)
    assert "the runner key was refused" in refused.stderr
    assert "DAYTONA_RUNNER_TOKEN" in refused.stderr
    assert wrong_key not in refused.stderr
    assert "cannot reach the control plane" in unreachable.stderr
    assert f"gone-host ({gone.runner_id}) no longer exists" in deleted.stderr
    assert "runner-agent register --force" in deleted.stderr


def test_status_before_registering_exits_5(cli, agent_env):
    result = cli("status", env=agent_env)

    assert result.returncode == 5
    assert "runner-agent register" in result.stderr


def test_status_with_a_refused_runner_key_exits_4(cli, agent_env):
    env = {**agent_env, "DAYTONA_RUNNER_TOKEN": "dtn_not_a_runner_key_000"}

    result = cli("status", env=env)

    assert result.returncode == 4
    assert "dtn_not_a_runner_key_000" not in result.stderr
    assert "the runner key was refused" in result.stderr
    assert "DAYTONA_RUNNER_TOKEN" in result.stderr


def test_metrics_needs_no_network_and_prints_a_valid_body(cli, agent_env):
    env = {**agent_env, "DAYTONA_API_URL": "http://192.0.2.1:9/api"}

    result = cli("metrics", "--json", env=env, timeout=30)

    body = json.loads(result.stdout)
    parsed = RunnerHealthcheck.from_dict(body)
    assert result.returncode == 0
    assert parsed.metrics.cpu >= 1
    assert 0 <= parsed.metrics.current_memory_usage_percentage <= 100


BEAT = {"at": "2026-01-05T10:00:00.000Z", "result": "accepted", "latencyMs": 35}
AGENT_STATUS = {
    "mode": "beating",
    "ready": True,
    "reasons": [],
    "healthcheck": {"last": BEAT, "lastAccepted": BEAT},
}


@pytest.fixture
def local_agent() -> Iterator[str]:
    """A stand-in for the daemon's local endpoint; its ``host:port``."""

    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(AGENT_STATUS).encode()
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_status_shows_the_control_plane_beside_the_local_view(
    agent_env, emulator, tmp_path, local_agent
):
    ready = registered(emulator, tmp_path / "ready", "ready-host")
    sick = registered(emulator, tmp_path / "sick", "sick-host")
    gone = registered(emulator, tmp_path / "gone", "gone-host")
    beat(emulator, stored_token(tmp_path / "ready"))
    unhealthy = [{"serviceName": "docker", "healthy": False}]
    httpx.post(
        f"{emulator.url}/runners/healthcheck",
        json={"appVersion": "test", "serviceHealth": unhealthy},
        headers={"Authorization": f"Bearer {stored_token(tmp_path / 'sick')}"},
    ).raise_for_status()
    with org_client(emulator) as client:
        lifecycle.drain(client, StateDir(tmp_path / "ready"), ready.runner_id)
        client.set_scheduling(gone.runner_id, unschedulable=True)
        client.delete_runner(gone.runner_id)

    def env(name: str, **extra: str) -> dict[str, str]:
        return {
            **agent_env,
            "RUNNER_AGENT_STATE_DIR": str(tmp_path / name),
            "RUNNER_AGENT_LISTEN": local_agent,
            **extra,
        }

    offline = env("ready", DAYTONA_API_URL="http://127.0.0.1:9/api")
    results = [
        finish(process)
        for process in (
            start("status", env=env("ready")),
            start("status", "--json", env=env("ready")),
            start("status", env=env("sick")),
            start("status", env=env("gone")),
            start("status", "--json", env=offline),
        )
    ]

    text, as_json, flagged, deleted, unreachable = results
    seen = json.loads(as_json.stdout)
    local = json.loads(unreachable.stdout)
    assert [r.returncode for r in results] == [0, 0, 0, 5, 3]
    assert "draining since" in text.stdout
    assert "beating, ready" in text.stdout
    assert "accepted in 35 ms" in text.stdout
    assert seen["intent"]["draining"] is True
    assert seen["agent"]["mode"] == "beating"
    assert 0 <= seen["lastCheckedAgeSeconds"] < 60
    assert seen["identity"]["runnerToken"].startswith("****")
    assert "unresponsive" in flagged.stdout
    assert "warning:" in flagged.stdout
    assert "no longer exists" in deleted.stderr
    assert "register --force" in deleted.stderr
    assert local["controlPlane"] is None
    assert local["identity"]["runnerId"] == ready.runner_id
    assert "cannot reach" in unreachable.stderr
    assert sick.runner_id in flagged.stdout


def test_status_with_only_a_runner_key_asks_for_the_runner_once(
    cli, agent_env, emulator, tmp_path
):
    held = registered(emulator, tmp_path / "elsewhere")
    env = {
        **agent_env,
        "DAYTONA_RUNNER_TOKEN": stored_token(tmp_path / "elsewhere"),
        "RUNNER_AGENT_STATE_DIR": str(tmp_path / "empty"),
    }
    control(emulator, "DELETE", "requests")

    result = cli("status", "--json", env=env)

    seen = json.loads(result.stdout)
    asked = [
        entry
        for entry in control(emulator, "GET", "requests")
        if (entry["method"], entry["path"]) == ("GET", "/api/runners/me")
    ]
    assert result.returncode == 0, result.stderr
    assert len(asked) == 1
    assert seen["identity"]["runnerId"] == held.runner_id
    assert seen["identity"]["source"].startswith("runner_token")
    assert seen["controlPlane"]["id"] == held.runner_id


def test_status_with_only_a_runner_key_and_no_control_plane_shows_the_local_view(
    cli, agent_env, tmp_path
):
    env = {
        **agent_env,
        "DAYTONA_RUNNER_TOKEN": "dtn_runner_key_for_offline_0001",
        "DAYTONA_API_URL": "http://127.0.0.1:9/api",
        "RUNNER_AGENT_STATE_DIR": str(tmp_path / "empty"),
    }

    as_json = cli("status", "--json", env=env)
    text = cli("status", env=env)

    local = json.loads(as_json.stdout)
    assert (as_json.returncode, text.returncode) == (3, 3)
    assert local["controlPlane"] is None
    assert local["identity"]["source"].startswith("runner_token")
    assert "dtn_runner_key_for_offline_0001" not in as_json.stdout
    assert "cannot reach" in as_json.stderr
    assert "unreachable" in text.stdout
    assert "runner key only" in text.stdout
