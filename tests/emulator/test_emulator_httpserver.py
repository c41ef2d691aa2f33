"""The waitress wrapper the emulator runs on: bind, serve, stop, drop."""

from __future__ import annotations

import logging
import socket
import threading
import time

import httpx
import pytest

from runner_agent.httpserver import DropConnection, serve_in_thread


def hello(environ, start_response):
    if environ["PATH_INFO"] == "/drop":
        raise DropConnection
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.3)
    body = environ["REMOTE_PORT"].encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_server_accepts_connections_as_soon_as_it_returns():
    handle = serve_in_thread(hello)
    try:
        with socket.create_connection((handle.host, handle.port), timeout=1):
            pass
    finally:
        handle.stop()


def test_port_zero_reports_the_real_port_and_a_url_without_trailing_slash():
    handle = serve_in_thread(hello)
    try:
        assert handle.port > 0
        assert handle.url == f"http://127.0.0.1:{handle.port}"
        assert httpx.get(handle.url + "/").status_code == 200
    finally:
        handle.stop()


def test_stop_ends_the_thread_and_releases_the_port():
    handle = serve_in_thread(hello, name="probe-http")
    port = handle.port

    handle.stop()

    assert not handle.running
    assert "probe-http" not in [t.name for t in threading.enumerate()]
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url)
    again = serve_in_thread(hello, port=port)
    again.stop()


def test_stop_is_quick_and_closes_kept_alive_connections():
    handle = serve_in_thread(hello)
    client = httpx.Client()
    client.get(handle.url)

    started = time.monotonic()
    handle.stop()

    assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.TransportError):
        client.get(handle.url)
    client.close()


def test_stop_twice_does_nothing_more():
    handle = serve_in_thread(hello)

    handle.stop()
    handle.stop()

    assert not handle.running


def test_keep_alive_reuses_one_connection():
    handle = serve_in_thread(hello)
    try:
        with httpx.Client() as client:
            ports = {client.get(handle.url).text for _ in range(3)}
        assert len(ports) == 1
    finally:
        handle.stop()


def test_head_answers_headers_only_and_the_connection_stays_usable():
    handle = serve_in_thread(hello)
    try:
        with httpx.Client() as client:
            head = client.head(handle.url)
            after = client.get(handle.url)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == after.headers["content-length"]
        assert after.text.isdigit()
    finally:
        handle.stop()


def test_drop_connection_closes_without_an_answer_and_the_server_goes_on():
    handle = serve_in_thread(hello)
    try:
        with httpx.Client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(handle.url + "/drop")
            assert client.get(handle.url).status_code == 200
    finally:
        handle.stop()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
def test_ipv6_loopback_is_served_with_a_bracketed_url():
    handle = serve_in_thread(hello, host="::1")
    try:
        assert handle.url == f"http://[::1]:{handle.port}"
        assert httpx.get(handle.url).status_code == 200
    finally:
        handle.stop()


def test_unix_socket_is_served_and_removed_on_stop(tmp_path):
    path = str(tmp_path / "api.sock")
    handle = serve_in_thread(hello, unix_socket=path)
    try:
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport) as client:
            assert client.get(handle.url + "/").status_code == 200
        assert handle.url == "http://localhost"
    finally:
        handle.stop()

    assert not (tmp_path / "api.sock").exists()


def test_waitress_logging_is_quiet():
    handle = serve_in_thread(hello)
    handle.stop()

    assert logging.getLogger("waitress").getEffectiveLevel() >= logging.ERROR


def test_stop_cuts_off_a_request_in_progress_without_waiting_long():
    handle = serve_in_thread(hello)
    outcome: list[object] = []

    def ask():
        try:
            outcome.append(httpx.get(handle.url + "/slow").status_code)
        except httpx.TransportError as error:
            outcome.append(type(error))

    worker = threading.Thread(target=ask)
    worker.start()
    time.sleep(0.1)

    started = time.monotonic()
    handle.stop()
    worker.join(5)

    assert time.monotonic() - started < 2.5
    assert not handle.running
    assert outcome == [httpx.RemoteProtocolError]
