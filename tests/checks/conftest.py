"""Real services for the checks to probe: HTTP servers and TCP listeners."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
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

    requests: int = 0

    def app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.requests += 1
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


class SlowServer:
    """An HTTP server on loopback that writes its answer piece by piece.

    ``pieces`` is a list of ``(pause, data)``: after reading a request it
    waits ``pause`` seconds before writing each ``data``.
    """

    def __init__(self, pieces: list[tuple[float, bytes]]) -> None:
        self.pieces = pieces
        self.stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        host, port = self._listener.getsockname()
        self.url = f"http://{host}:{port}/health"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,)).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            for pause, data in self.pieces:
                if self.stopped.wait(pause):
                    return
                try:
                    connection.sendall(data)
                except OSError:
                    return


@pytest.fixture
def slow_server() -> Iterator[Callable[[list[tuple[float, bytes]]], SlowServer]]:
    servers: list[SlowServer] = []

    def start(pieces: list[tuple[float, bytes]]) -> SlowServer:
        servers.append(SlowServer(pieces))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class Port:
    """A TCP port on loopback that the test opens and closes at will."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._sock.getsockname()

    def up(self) -> None:
        if self._sock is None:
            # create_server sets SO_REUSEADDR: the same port binds again.
            self._sock = socket.create_server(self.address)

    def down(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@pytest.fixture
def port() -> Iterator[Port]:
    port = Port()
    yield port
    port.down()
