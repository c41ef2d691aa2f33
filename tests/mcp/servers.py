"""Start ``runner-agent mcp --http`` as a real process for a test."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class HttpServer:
    """A running ``runner-agent mcp --http`` and where it listens."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def http_server(
    env: dict[str, str], log: Path, port: int | None = None
) -> Iterator[HttpServer]:
    """Serve MCP over HTTP on loopback; stop it on leaving (if still running)."""
    port = port or free_port()
    command = [sys.executable, "-m", "runner_agent", "mcp", "--http"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_listening(port, process, log)
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once ``port`` accepts connections; fail if the server exits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the server did not listen within 30 s: {log.read_text()}")
