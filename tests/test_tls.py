"""TLS towards the control plane: verified always, against a CA bundle if set.

The server is a real HTTPS server on loopback with a certificate made for
the test by the ``openssl`` command, which no public CA has signed.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret


class _Runners(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps([]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return where


@pytest.fixture(scope="module")
def https_url(certificate) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Runners)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


KEYS = Credentials(organization=Secret("dtn_tls_test_key"))


def test_a_certificate_no_known_ca_signed_is_refused(https_url):
    with (
        RunnersClient(https_url, KEYS) as client,
        pytest.raises(errors.UnreachableError) as refused,
    ):
        client.list_runners()

    assert "TLS verification failed" in str(refused.value)
    assert "ca_bundle" in str(refused.value)
    assert refused.value.exit_code == errors.EXIT_UNREACHABLE


def test_the_ca_bundle_makes_that_certificate_trusted(https_url, certificate):
    bundle = str(certificate / "cert.pem")

    with RunnersClient(https_url, KEYS, ca_bundle=bundle) as client:
        assert client.list_runners() == []
