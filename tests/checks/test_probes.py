"""Each kind of check passing, failing and timing out against real services."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from runner_agent.checks.probes import run_check
from runner_agent.config.checks import CheckConfig


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def _http(url: str, **fields) -> CheckConfig:
    return CheckConfig(name="web", kind="http", url=url, **fields)


def _command(*argv: str, **fields) -> CheckConfig:
    return CheckConfig(name="cmd", kind="command", command=argv, **fields)


def test_http_check_passes_on_the_expected_status(service, http):
    outcome = run_check(_http(service.url), http)

    assert outcome.ok
    assert outcome.duration_ms >= 0


def test_http_check_fails_on_another_status(service, http):
    service.status = 503

    outcome = run_check(_http(service.url), http)

    assert not outcome.ok
    assert outcome.reason == "HTTP 503, expected 200"


def test_http_check_accepts_a_configured_status(service, http):
    service.status = 401

    outcome = run_check(_http(service.url, expected_status=401), http)

    assert outcome.ok


def test_http_check_times_out(service, http):
    service.hang.set()

    outcome = run_check(_http(service.url, timeout=0.3), http)

    assert not outcome.ok
    assert outcome.reason == "timed out after 0.3s"


def test_http_check_ends_at_the_status_of_a_body_sent_slowly(slow_server, http):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
    server = slow_server([(0, head)] + [(0.5, b"x")] * 20)

    started = time.monotonic()
    outcome = run_check(_http(server.url, timeout=1.0), http)
    took = time.monotonic() - started

    assert outcome.ok, outcome.reason
    assert took < 1.0


def test_http_answer_completed_after_the_timeout_is_a_timeout(slow_server, http):
    # Each piece comes within the timeout; the whole answer does not.
    server = slow_server(
        [(0.4, b"HTTP/1.1 200 OK\r\n"), (0.4, b"Content-Length: 0\r\n\r\n")]
    )

    outcome = run_check(_http(server.url, timeout=0.6), http)

    assert not outcome.ok
    assert outcome.reason == "timed out after 0.6s"


def test_http_check_fails_when_nothing_listens(closed_port, http):
    host, port = closed_port

    outcome = run_check(_http(f"http://{host}:{port}/"), http)

    assert not outcome.ok
    assert outcome.reason == "connection refused"


def test_tcp_check_passes_when_the_port_accepts(listener, http):
    check = CheckConfig(name="redis", kind="tcp", address=listener)

    assert run_check(check, http).ok


def test_tcp_check_fails_when_the_port_refuses(closed_port, http):
    check = CheckConfig(name="redis", kind="tcp", address=closed_port)

    outcome = run_check(check, http)

    assert not outcome.ok
    assert outcome.reason == "connection refused"


def test_tcp_check_fails_on_a_name_that_does_not_resolve(http):
    check = CheckConfig(
        name="redis", kind="tcp", address=("no-such-host.invalid", 6379)
    )

    outcome = run_check(check, http)

    assert not outcome.ok
    assert outcome.reason.startswith("cannot resolve no-such-host.invalid")


def test_tcp_check_by_name_tries_each_address(listener, http):
    # localhost may name ::1 first, where nothing listens: 127.0.0.1 follows.
    check = CheckConfig(name="redis", kind="tcp", address=("localhost", listener[1]))

    outcome = run_check(check, http)

    assert outcome.ok, outcome.reason


def test_tcp_check_gives_up_on_a_name_lookup_that_hangs(http, monkeypatch):
    # A resolver that hangs cannot be arranged here (the machine's
    # resolv.conf is not ours to change), so the lookup of this one name is
    # replaced by one that answers only long after the timeout.
    real = socket.getaddrinfo
    released = threading.Event()

    def hanging(host, *args, **kwargs):
        if host == "db.internal":
            released.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    check = CheckConfig(
        name="db", kind="tcp", address=("db.internal", 5432), timeout=0.3
    )

    started = time.monotonic()
    outcome = run_check(check, http)
    took = time.monotonic() - started
    released.set()

    assert not outcome.ok
    assert outcome.reason == "cannot resolve db.internal within 0.3s"
    assert took < 1.0


def test_command_check_passes_on_exit_status_zero(http):
    assert run_check(_command("true"), http).ok


def test_command_check_fails_with_its_last_output_line(http):
    check = _command("sh", "-c", "echo checking; echo disk full >&2; exit 3")

    outcome = run_check(check, http)

    assert not outcome.ok
    assert outcome.reason == "exit status 3: disk full"


def test_command_check_that_cannot_start_says_why(http):
    outcome = run_check(_command("/nonexistent/check"), http)

    assert not outcome.ok
    assert outcome.reason == "cannot run /nonexistent/check: no such file or directory"


def test_command_check_runs_without_the_agents_keys(http, monkeypatch):
    monkeypatch.setenv("DAYTONA_API_KEY", "dtn_organization_key_0123456789")
    monkeypatch.setenv("DAYTONA_RUNNER_TOKEN", "dtn_runner_token_0123456789")
    monkeypatch.setenv("DAYTONA_PROXY_API_KEY", "dtn_proxy_key_0123456789")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x")
    script = (
        'test -z "$DAYTONA_API_KEY$DAYTONA_RUNNER_TOKEN$DAYTONA_PROXY_API_KEY"'
        ' && test -z "$CREDENTIALS_DIRECTORY" && test -n "$PATH"'
    )

    outcome = run_check(_command("sh", "-c", script), http)

    assert outcome.ok, outcome.reason


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_command_check_timing_out_is_killed_with_its_process_group(tmp_path, http):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"

    started = time.monotonic()
    outcome = run_check(_command("sh", "-c", script, timeout=0.5), http)
    took = time.monotonic() - started

    assert not outcome.ok
    assert outcome.reason == "timed out after 0.5s (killed)"
    assert took < 10
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(child)


def test_tcp_check_times_out_when_the_port_never_answers(http):
    # A listener whose accept queue is full drops further connection
    # attempts without a word, as a host behind a silent firewall does.
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    address = server.getsockname()
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(address)
    check = CheckConfig(name="redis", kind="tcp", address=address, timeout=0.3)

    outcome = run_check(check, http)

    for sock in [server, *fillers]:
        sock.close()
    assert not outcome.ok
    assert outcome.reason == "timed out after 0.3s"
