"""The sidecar image: its Dockerfile, build context and health check.

No Docker engine is needed: hadolint reads the Dockerfile, and the health
check command is run here, by this Python, against a local endpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def _instructions(repo: Path) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined."""
    joined = (repo / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _arguments(repo: Path, keyword: str) -> list[str]:
    return [args for key, args in _instructions(repo) if key == keyword]


def test_dockerfile_passes_hadolint(tool, repo):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "Dockerfile"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_image_builds_a_wheel_then_installs_it_in_a_second_stage(repo):
    stages = _arguments(repo, "FROM")

    assert len(stages) == 2
    assert stages[0].endswith(" AS builder")
    assert any("pip wheel" in run for run in _arguments(repo, "RUN"))
    assert any("from=builder" in run for run in _arguments(repo, "RUN"))


def test_image_runs_as_a_numeric_non_root_user(repo):
    (user,) = _arguments(repo, "USER")

    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0


def test_image_keeps_the_state_directory_on_a_volume(repo):
    (volume,) = _arguments(repo, "VOLUME")

    assert json.loads(volume) == ["/var/lib/runner-agent"]


def test_image_starts_the_agent_in_exec_form(repo):
    """Exec form: SIGTERM reaches the process tree without a shell between."""
    (entrypoint,) = _arguments(repo, "ENTRYPOINT")
    (command,) = _arguments(repo, "CMD")

    assert json.loads(entrypoint)[-1] == "runner-agent"
    assert json.loads(command) == ["run"]


def test_build_context_holds_what_the_dockerfile_copies(repo):
    ignore = (repo / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = [
        source
        for args in _arguments(repo, "COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]

    assert copied
    for source in copied:
        assert source.rstrip("/") in allowed, source
        assert (repo / source).exists(), source


def _healthcheck_command(repo: Path) -> list[str]:
    (healthcheck,) = _arguments(repo, "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


class _Endpoint(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _endpoint(status: int) -> Iterator[int]:
    handler = type("Handler", (_Endpoint,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _run_healthcheck(repo: Path, listen: str) -> int:
    result = subprocess.run(
        _healthcheck_command(repo),
        env={"RUNNER_AGENT_LISTEN": listen},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_image_healthcheck_passes_when_healthz_answers_200(repo, host):
    with _endpoint(200) as port:
        code = _run_healthcheck(repo, f"{host}:{port}")

    assert code == 0


def test_image_healthcheck_fails_when_healthz_answers_503(repo):
    with _endpoint(503) as port:
        code = _run_healthcheck(repo, f"127.0.0.1:{port}")

    assert code != 0


def test_image_healthcheck_fails_when_nothing_listens(repo):
    with _endpoint(200) as port:
        pass

    assert _run_healthcheck(repo, f"127.0.0.1:{port}") != 0
