"""Real services for the checks to probe: an HTTP server and TCP listeners."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from runner_agent.httpserver import serve_in_thread


@dataclasses.dataclass
class Service:
    """An HTTP service whose answer the test sets: a status, or a hang."""

    url: str = ""
    status: int = 200
    hang: threading.Event = dataclasses.field(default_factory=threading.Event)
    release: threading.Event = dataclasses.field(default_factory=threading.Event)

    def app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.hang.is_set():
            self.release.wait(30)
        start_response(f"{self.status} Status", [("Content-Type", "text/plain")])
        return [b"answer"]


@pytest.fixture
def service() -> Iterator[Service]:
    service = Service()
    server = serve_in_thread(service.app, name="service")
    service.url = f"{server.url}/health"
    yield service
    service.release.set()
    server.stop()


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts connections."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock.getsockname()
    sock.close()


@pytest.fixture
def closed_port() -> tuple[str, int]:
    """A TCP port nothing listens on."""
    sock = socket.create_server(("127.0.0.1", 0))
    address = sock.getsockname()
    sock.close()
    return address
