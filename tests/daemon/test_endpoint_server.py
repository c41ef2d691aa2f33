"""The local endpoint's server on real loopback sockets."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
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


def test_connections_beyond_the_cap_wait_their_turn(server):
    held = [connected(server) for _ in range(endpoint_server.MAX_CONNECTIONS)]
    for connection in held:
        connection.sendall(b"GET /held HTTP/1.1\r\n")
    time.sleep(0.2)
    answers = []
    waiting = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{server.url}/queued", timeout=5))
    )
    waiting.start()

    time.sleep(0.5)
    answered_while_full = list(answers)
    held.pop().close()
    waiting.join(5)
    for connection in held:
        connection.close()

    assert answered_while_full == []
    assert answers[0].text == "GET /queued"


def trickle(connection: socket.socket, *, until: float) -> None:
    while time.monotonic() < until:
        connection.sendall(b"X-Slow: 1\r\n")
        time.sleep(0.2)


def test_a_request_that_trickles_in_is_cut_off_at_its_deadline(monkeypatch, capfd):
    monkeypatch.setattr(endpoint_server, "REQUEST_TIMEOUT", 0.6)
    server = EndpointServer(hello, "127.0.0.1", 0, name="endpoint-test")
    try:
        trickling = connected(server)
        trickling.sendall(b"GET /slow HTTP/1.1\r\n")
        started = time.monotonic()
        # Each line comes well within any per-read timeout; the request as
        # a whole never does.
        with pytest.raises(OSError):  # noqa: PT011 - a reset or a broken pipe
            trickle(trickling, until=started + 5)
        took = time.monotonic() - started
    finally:
        server.stop()

    assert took < 2
    assert "Traceback" not in "".join(capfd.readouterr())


def test_a_read_that_times_out_ends_the_connection_quietly(monkeypatch, capfd):
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


def test_a_body_is_handed_over_whole(server):
    def echo(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    server = EndpointServer(echo, "127.0.0.1", 0, name="endpoint-test")
    try:
        answer = httpx.post(f"{server.url}/echo", content=b'{"a": 1}')
    finally:
        server.stop()

    assert answer.content == b'{"a": 1}'


def raw_answer(server: EndpointServer, request: bytes) -> bytes:
    with connected(server) as connection:
        connection.sendall(request)
        return connection.recv(4096)


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n", b"411"),
        ("Content-Length: \u00b2\r\n".encode("latin-1"), b"400"),
        (f"Content-Length: {endpoint_server.MAX_BODY + 1}\r\n".encode(), b"413"),
    ],
)
def test_a_body_it_cannot_read_whole_is_refused(server, request_head, status):
    answer = raw_answer(
        server, b"POST /x HTTP/1.1\r\nHost: h\r\n" + request_head + b"\r\n"
    )

    assert answer.split(b"\r\n")[0].split(b" ")[1] == status


def test_a_body_cut_short_never_reaches_the_application(monkeypatch):
    monkeypatch.setattr(endpoint_server, "REQUEST_TIMEOUT", 0.5)
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    server = EndpointServer(app, "127.0.0.1", 0, name="endpoint-test")
    try:
        started = time.monotonic()
        answer = raw_answer(
            server, b"POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial"
        )
        took = time.monotonic() - started
    finally:
        server.stop()

    assert calls == []
    assert answer == b"" or answer.startswith(b"HTTP/1.0 400")
    assert took < 3


def test_an_error_after_the_answer_began_is_logged_not_printed(log_lines, capfd):
    def breaks_midway(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])

        def body():
            yield b"12345"
            raise RuntimeError("broken midway")

        return body()

    server = EndpointServer(breaks_midway, "127.0.0.1", 0, name="endpoint-test")
    try:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.url}/x")
    finally:
        server.stop()

    events = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [event["event"] for event in events] == ["local_api_request_failed"]
    assert "broken midway" in events[0]["exception"]
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


OUT_OF_DESCRIPTORS = """
import os, resource, sys
from runner_agent.daemon.endpoint_server import EndpointServer

def hello(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]

resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
server = EndpointServer(hello, "127.0.0.1", 0, name="endpoint-test")
print(server.port, flush=True)
hogged = []
try:
    while True:
        hogged.append(open(os.devnull))
except OSError:
    pass
sys.stdin.readline()
for handle in hogged:
    handle.close()
sys.stdin.readline()
server.stop()
"""


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_it_waits_instead_of_spinning():
    child = subprocess.Popen(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(child.stdout.readline())
        answers = []
        client = threading.Thread(
            target=lambda: answers.append(
                httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
            )
        )
        client.start()
        time.sleep(0.5)
        cpu_before = process_cpu(child.pid)
        time.sleep(2)
        spent = process_cpu(child.pid) - cpu_before
        child.stdin.write("free\n")
        child.stdin.flush()
        client.join(10)
        child.stdin.write("stop\n")
        child.stdin.flush()
        child.wait(10)
    finally:
        child.kill()

    assert spent < 0.5
    assert answers[0].text == "ok"
