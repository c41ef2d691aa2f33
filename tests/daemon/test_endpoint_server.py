"""The local endpoint's server on real loopback sockets."""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner_agent import logs
from runner_agent.daemon import endpoint_server
from runner_agent.daemon.endpoint_server import EndpointServer


def hello(environ, start_response):
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server():
    running = EndpointServer(hello, "127.0.0.1", 0, name="endpoint-test")
    yield running
    running.stop()


def connected(server: EndpointServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=5)


def test_it_serves_on_the_port_it_reports(server):
    answer = httpx.get(f"{server.url}/metrics")

    assert server.port != 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert answer.status_code == 200
    assert answer.text == "GET /metrics"


def test_ipv6_loopback_gets_a_bracketed_url():
    try:
        server = EndpointServer(hello, "::1", 0, name="endpoint-test")
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    try:
        assert server.url == f"http://[::1]:{server.port}"
        assert httpx.get(f"{server.url}/x").text == "GET /x"
    finally:
        server.stop()


def test_a_taken_port_is_an_os_error(server):
    with pytest.raises(OSError, match="in use"):
        EndpointServer(hello, "127.0.0.1", server.port, name="endpoint-test")


def test_head_gets_the_headers_without_the_body(server):
    answer = httpx.head(f"{server.url}/status")

    assert answer.status_code == 200
    assert answer.headers["Content-Length"] == str(len("HEAD /status"))
    assert answer.content == b""


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream)
    yield stream
    logs.configure_logging("info", "auto", sys.stderr)


def test_an_application_error_is_a_500_and_the_server_goes_on(log_lines):
    calls = []

    def flaky(environ, start_response):
        calls.append(environ["PATH_INFO"])
        if len(calls) == 1:
            raise RuntimeError("broken")
        return hello(environ, start_response)

    server = EndpointServer(flaky, "127.0.0.1", 0, name="endpoint-test")
    try:
        first = httpx.get(f"{server.url}/one")
        second = httpx.get(f"{server.url}/two")
    finally:
        server.stop()

    events = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert first.status_code == 500
    assert first.json() == {"error": "internal error"}
    assert second.text == "GET /two"
    assert [event["event"] for event in events] == ["local_api_request_failed"]
    assert "RuntimeError: broken" in events[0]["exception"]


def test_a_stalled_client_does_not_hold_up_the_others(server):
    stalled = connected(server)
    stalled.sendall(b"GET /slow HTTP/1.1\r\n")  # and never the rest

    answer = httpx.get(f"{server.url}/fast", timeout=5)

    stalled.close()
    assert answer.text == "GET /fast"


def test_connections_beyond_the_cap_are_closed_unanswered(server):
    held = [connected(server) for _ in range(endpoint_server.MAX_CONNECTIONS)]
    time.sleep(0.2)
    extra = connected(server)
    extra.sendall(b"GET /x HTTP/1.0\r\n\r\n")

    refused = extra.recv(1024)
    for connection in held:
        connection.close()
    time.sleep(0.2)
    answer = httpx.get(f"{server.url}/after")

    assert refused == b""
    assert answer.text == "GET /after"


def test_a_client_that_stalls_is_cut_off_quietly_after_the_time_limit(
    monkeypatch, capfd
):
    monkeypatch.setattr(endpoint_server._RequestHandler, "timeout", 0.3)
    server = EndpointServer(hello, "127.0.0.1", 0, name="endpoint-test")
    try:
        stalled = connected(server)
        stalled.sendall(b"GET /slow HTTP/1.1\r\n")
        started = time.monotonic()
        ended = stalled.recv(1024)
        waited = time.monotonic() - started
    finally:
        server.stop()

    assert ended == b""
    assert waited < 3
    assert "Traceback" not in "".join(capfd.readouterr())


def test_stop_cuts_off_open_connections_and_frees_the_port(server):
    stalled = connected(server)
    stalled.sendall(b"GET /slow HTTP/1.1\r\n")
    time.sleep(0.1)

    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    server.stop()

    assert took < 2
    assert not server.running
    assert stalled.recv(1024) == b""
    EndpointServer(hello, "127.0.0.1", server.port, name="endpoint-test").stop()


def voluntary_switches(thread: threading.Thread) -> int:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("volun"))
    return int(line.split()[1])


def test_an_idle_server_does_not_wake_up(server):
    loop = next(t for t in threading.enumerate() if t.name == "endpoint-test")
    httpx.get(f"{server.url}/warm")
    time.sleep(0.2)

    before = voluntary_switches(loop)
    time.sleep(2.5)
    after = voluntary_switches(loop)

    assert after == before
