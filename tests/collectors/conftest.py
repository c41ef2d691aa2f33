"""A fake Docker daemon on a unix socket, and configurations pointing at it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from runner_agent.config import Config, DockerConfig
from runner_agent.httpserver import serve_in_thread

GIB = 1024**3


@dataclasses.dataclass
class FakeDocker:
    """Enough of the Docker Engine API for the collector, with a hang switch.

    ``containers`` maps an id to ``(state, labels, host_config)``. As Docker
    does, the listing holds only running containers unless ``all`` is true.
    ``inspect_delay`` slows every container inspection, as a busy daemon
    with many containers does.
    """

    socket: str
    images: int = 0
    root_dir: str = "/var/lib/docker"
    containers: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = (
        dataclasses.field(default_factory=dict)
    )
    hang: threading.Event = dataclasses.field(default_factory=threading.Event)
    release: threading.Event = dataclasses.field(default_factory=threading.Event)
    requests: list[str] = dataclasses.field(default_factory=list)
    ghosts: list[str] = dataclasses.field(default_factory=list)
    inspect_delay: float = 0.0
    created: int = 0

    def add(
        self,
        state: str = "running",
        labels: dict[str, str] | None = None,
        **host_config: Any,
    ) -> str:
        # Never an id seen before, as Docker's: a removed one is not reused.
        container_id = f"c{self.created:063d}"
        self.created += 1
        self.containers[container_id] = (state, labels or {}, host_config)
        return container_id

    def add_many(self, count: int, state: str = "running", **host_config: Any) -> None:
        for _ in range(count):
            self.add(state, **host_config)

    def inspections(self) -> list[str]:
        """The container ids inspected so far, in order."""
        return [
            path.split("/")[2]
            for path in self.requests
            if path.startswith("/containers/") and path != "/containers/json"
        ]

    def app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        self.requests.append(path)
        if self.hang.is_set():
            # Far longer than any timeout in the tests; released at teardown.
            self.release.wait(30)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        status, body = self._answer(path, query)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = "text/plain" if isinstance(body, bytes) else "application/json"
        start_response(status, [("Content-Type", kind)])
        return [payload]

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[str, Any]:
        if path == "/_ping":
            return "200 OK", b"OK"
        if path == "/info":
            return "200 OK", {"Images": self.images, "DockerRootDir": self.root_dir}
        if path == "/containers/json":
            return "200 OK", self._listing(query)
        if path.startswith("/containers/") and path.endswith("/json"):
            container_id = path.split("/")[2]
            if self.inspect_delay:
                self.release.wait(self.inspect_delay)
            if container_id not in self.containers:
                return "404 Not Found", {"message": "No such container"}
            state, _, host_config = self.containers[container_id]
            return "200 OK", {
                "Id": container_id,
                "State": {"Status": state, "Running": state == "running"},
                "HostConfig": host_config,
            }
        return "404 Not Found", {"message": "page not found"}

    def _listing(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        wanted = json.loads(query.get("filters", ["{}"])[0]).get("label", [])
        everything = _true(query.get("all", [""])[0])
        listing = []
        for container_id, (state, labels, _) in self.containers.items():
            if state != "running" and not everything:
                continue
            if all(_matches(labels, label) for label in wanted):
                listing.append({"Id": container_id, "State": state, "Labels": labels})
        # Listed, then removed before they could be inspected.
        listing.extend({"Id": ghost, "State": "running"} for ghost in self.ghosts)
        return listing


def _true(value: str) -> bool:
    # How the Engine API reads a boolean query parameter: anything but these.
    return value.strip().lower() not in ("", "0", "no", "false", "none")


def _matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths hold 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ra", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fake_docker(short_dir: Path) -> Iterator[FakeDocker]:
    docker = FakeDocker(socket=str(short_dir / "docker.sock"))
    server = serve_in_thread(docker.app, unix_socket=docker.socket, name="docker")
    yield docker
    docker.release.set()
    server.stop()


def docker_config(socket: str, **overrides: Any) -> Config:
    """The defaults, with Docker at ``socket`` and a quick timeout."""
    docker = DockerConfig(socket=socket, refresh_interval=10.0, timeout=2.0)
    return Config(docker=dataclasses.replace(docker, **overrides))


@pytest.fixture
def config_for():
    """``config_for(socket, **docker_overrides)``: a Config using that Docker."""
    return docker_config
