"""``runner-agent doctor``: every check, its verdict and its fix."""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from runner_agent import doctor
from runner_agent.config import load_config
from runner_agent.models import RunnerFull
from runner_agent.state import Intent
from tests.cli.helpers import (
    beat,
    finish,
    org_client,
    registered,
    start,
    stored_token,
)


class _Ping(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/_ping" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def docker_at(path: Path, status: int = 200) -> Iterator[str]:
    """A stand-in Docker socket whose ``/_ping`` answers ``status``."""
    handler = type("Ping", (_Ping,), {"status": status})
    server = _UnixServer(str(path), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield str(path)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def docker(tmp_path) -> Iterator[str]:
    with docker_at(tmp_path / "docker.sock") as path:
        yield path


def config_file(directory: Path, docker_socket: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(f'[docker]\nsocket = "{docker_socket}"\n')
    path.chmod(0o600)
    return path


def test_doctor_on_a_healthy_host_passes_with_warnings_allowed(
    agent_env, emulator, state_dir, tmp_path, docker
):
    registered(emulator, state_dir)
    beat(emulator, stored_token(state_dir))
    env = {**agent_env, "RUNNER_AGENT_CONFIG": str(config_file(tmp_path, docker))}

    as_json, text = [
        finish(process)
        for process in (start("doctor", "--json", env=env), start("doctor", env=env))
    ]

    report = json.loads(as_json.stdout)
    verdicts = {check["name"]: check["status"] for check in report["checks"]}
    output = as_json.stdout + text.stdout + text.stderr
    assert (as_json.returncode, text.returncode) == (0, 0), text.stdout
    assert report["ok"] is True
    assert verdicts["configuration"] == "ok"
    assert verdicts["control plane"] == "ok"
    assert verdicts["identity matches"] == "ok"
    assert verdicts["runner state"] == "ok"
    assert verdicts["organization key"] == "ok"
    assert verdicts["clock"] == "ok"
    assert verdicts["docker"] == "ok"
    assert verdicts["permissions"] == "ok"
    assert verdicts["local agent"] == "skip"
    assert set(verdicts) >= {"runner identity", "disk"}
    assert "0 failed" in text.stdout
    assert stored_token(state_dir) not in output
    assert emulator.organization_key not in output


def test_doctor_turns_each_problem_into_a_failed_check_with_a_fix(
    agent_env, emulator, tmp_path, docker
):
    def host(name: str, **extra: str) -> dict[str, str]:
        config = config_file(tmp_path / name, docker) if name != "bad" else None
        return {
            **agent_env,
            "RUNNER_AGENT_STATE_DIR": str(tmp_path / name / "state"),
            "RUNNER_AGENT_CONFIG": str(config or tmp_path / "bad.toml"),
            **extra,
        }

    (tmp_path / "bad.toml").write_text("[runner]\nnmae = 'x'\n")
    gone = registered(emulator, tmp_path / "gone" / "state", "gone-host")
    with org_client(emulator) as client:
        client.set_scheduling(gone.runner_id, unschedulable=True)
        client.delete_runner(gone.runner_id)
    registered(emulator, tmp_path / "open" / "state", "open-host")
    (tmp_path / "open" / "state" / "identity.json").chmod(0o644)
    registered(emulator, tmp_path / "offline" / "state", "offline-host")
    offline = {"DAYTONA_API_URL": "http://127.0.0.1:9/api"}
    bare = {k: v for k, v in host("bare").items() if k != "DAYTONA_API_KEY"}

    reports = [
        finish(process)
        for process in (
            start("doctor", "--json", env=host("bad")),
            start("doctor", "--json", env=host("gone")),
            start("doctor", "--json", env=host("open")),
            start("doctor", "--json", env=host("offline", **offline)),
            start("doctor", "--json", env=bare),
        )
    ]

    failed = [
        {c["name"]: c for c in json.loads(r.stdout)["checks"] if c["status"] == "fail"}
        for r in reports
    ]
    assert [r.returncode for r in reports] == [1, 1, 1, 1, 1]
    assert all(r.stderr == "" for r in reports)
    assert "did you mean runner.name" in failed[0]["configuration"]["detail"]
    assert failed[1]["identity matches"]["fix"] == "runner-agent register --force"
    assert "chmod 600" in failed[2]["permissions"]["fix"]
    assert "runner identity" in failed[2]
    assert "cannot reach" in failed[3]["control plane"]["detail"]
    assert "runner-agent register" in failed[4]["runner identity"]["fix"]


def test_docker_check_pings_the_socket_and_names_the_fix(tmp_path, docker):
    def checked(name: str, socket: str) -> doctor.Check:
        config = load_config(config_file(tmp_path / name, socket), env={})
        return doctor.check_docker(config)

    with docker_at(tmp_path / "sick.sock", status=500) as sick:
        up, missing, broken = (
            checked("up", docker),
            checked("missing", str(tmp_path / "none.sock")),
            checked("sick", sick),
        )

    assert up.status == "ok"
    assert missing.status == "warn"
    assert "docker.socket" in missing.fix
    assert broken.status == "fail"
    assert "500" in broken.detail


def a_runner(state: str, *, unschedulable: bool = False) -> RunnerFull:
    return RunnerFull.from_api(
        {
            "id": "3f1c2a9e-0000-4000-8000-000000000001",
            "name": "host-1",
            "region": "eu",
            "state": state,
            "unschedulable": unschedulable,
            "apiKey": "dtn_runner_key_for_doctor_0001",
        }
    )


@pytest.mark.parametrize(
    ("state", "unschedulable", "draining", "verdict"),
    [
        ("ready", False, False, "ok"),
        ("ready", True, False, "warn"),
        ("ready", False, True, "warn"),
        ("initializing", False, False, "warn"),
        ("unresponsive", False, False, "fail"),
        ("decommissioned", True, True, "warn"),
        ("decommissioned", False, False, "fail"),
    ],
)
def test_runner_state_is_judged_with_what_the_agent_asked_for(
    state, unschedulable, draining, verdict
):
    intent = Intent(draining=draining, draining_since="2026-01-05T10:00:00Z")

    check = doctor.runner_state(a_runner(state, unschedulable=unschedulable), intent)

    assert check.status == verdict
    assert state in check.detail
    assert (check.fix == "") == (verdict == "ok")


def test_clock_skew_beyond_thirty_seconds_is_a_warning():
    now = datetime.now(UTC)

    close = doctor.check_clock(now - timedelta(seconds=2))
    skewed = doctor.check_clock(now - timedelta(seconds=95))

    assert close.status == "ok"
    assert skewed.status == "warn"
    assert "ahead of the control plane" in skewed.detail
