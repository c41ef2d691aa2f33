"""The local endpoint's HTTP server, on the standard library.

The endpoint answers a probe or a scrape every few seconds, one at a time,
for as long as the daemon runs, on every runner host. waitress (which the
emulator uses) would cost about half a megabyte and three threads for all
that time, and its loop wakes every second. The standard library's WSGI
server, which prometheus_client loads anyway, is enough here with three
additions:

- each connection has a time limit (:data:`CONNECTION_TIMEOUT`), so a
  client that stalls cannot hold a thread;
- at most :data:`MAX_CONNECTIONS` are served at once; more are closed at
  once, unanswered;
- the accept loop sleeps until a connection or :meth:`EndpointServer.stop`
  wakes it: an idle endpoint costs no CPU.

Each connection is served in a thread of its own and closed after one
answer (HTTP/1.0), which probes and scrapers handle as a matter of course.
An application error is logged and answered with a 500.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import structlog

from runner_agent.wsgi import JSON_TYPE, serving_url, without_head_bodies

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = structlog.get_logger(__name__)

CONNECTION_TIMEOUT = 10.0
MAX_CONNECTIONS = 8


class _RequestHandler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        # One line per probe on standard error would drown the daemon's log.
        return None


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._idle = threading.Condition(self._lock)
        super().__init__((host, port), _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer looks its own name up in the DNS here; a host with a
        # slow resolver would start slowly for nothing.
        socketserver.TCPServer.server_bind(self)
        # Accepting never blocks: a connection reset before it was taken
        # leaves nothing to wait for.
        self.socket.setblocking(False)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        with self._lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to standard error; a client that
        # stalled past its time limit or went away is not worth one.
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError | ConnectionError):
            log.debug("local_api_connection_dropped", reason=type(error).__name__)
            return
        log.exception("local_api_connection_failed")

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            if request in self._open:
                self._open.discard(request)
                self._slots.release()
                self._idle.notify_all()

    def cut_off(self, timeout: float) -> None:
        """Close every open connection; wait up to ``timeout`` for them to end."""
        with self._lock:
            for request in self._open:
                try:
                    request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue
            self._idle.wait_for(lambda: not self._open, timeout)


def _logged(app: WSGIApplication) -> WSGIApplication:
    """Wrap ``app``: an error it raises is logged and answered with a 500."""

    def application(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception:  # the endpoint must keep serving
            log.exception("local_api_request_failed", path=environ.get("PATH_INFO"))
            body = b'{"error": "internal error"}'
            start_response(
                "500 Internal Server Error",
                [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))],
            )
            return [body]

    return application


class EndpointServer:
    """Serves a WSGI application on ``host:port`` in a named thread."""

    def __init__(
        self, app: WSGIApplication, host: str, port: int, *, name: str
    ) -> None:
        self._server = _Server(host, port)
        self._server.set_app(without_head_bodies(_logged(app)))
        self.host = str(self._server.server_name)
        self.port = int(self._server.server_port)
        self.url = serving_url(self.host, self.port)
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<EndpointServer {self.host}:{self.port} running={self.running}>"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close open connections, release the port.

        Calling it again does nothing more.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_writer.send(b"x")
        self._thread.join(timeout)
        self._server.cut_off(min(timeout, 2.0))
        self._server.server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._server.socket:
                        self._server.handle_request()
