"""The local endpoint's HTTP server, on the standard library.

The endpoint answers a probe or a scrape every few seconds, one at a time,
for as long as the daemon runs, on every runner host. waitress (which the
emulator uses) would cost about half a megabyte and three threads for all
that time, and its loop wakes every second. The standard library's WSGI
server, which prometheus_client loads anyway, is enough here with a few
additions:

- a connection has :data:`REQUEST_TIMEOUT` seconds from its arrival to
  deliver its whole request, body included, however it trickles in; then
  it is cut off, so a client that stalls cannot hold a thread;
- at most :data:`MAX_CONNECTIONS` are served at once; more wait in the
  listen queue until one ends;
- a body must come with a Content-Length (no chunked encoding) and stay
  under :data:`MAX_BODY` bytes; the application gets it whole;
- errors are logged through structlog, never printed;
- the accept loop sleeps until a connection, a deadline or a poke on its
  :class:`~runner_agent.daemon.waker.Waker` (a stop, a freed slot) wakes
  it: an idle endpoint costs no CPU.

Each connection is served in a thread of its own and closed after one
answer (HTTP/1.0), which probes and scrapers handle as a matter of course.
"""

from __future__ import annotations

import errno
import io
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

import structlog

from runner_agent.daemon.waker import Waker
from runner_agent.wsgi import (
    HttpError,
    json_response,
    read_body,
    serving_url,
    without_head_bodies,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = structlog.get_logger(__name__)

REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 16
MAX_BODY = 1024 * 1024
# How long accepting pauses when the process is out of file descriptors.
ACCEPT_PAUSE = 1.0

# Where the environ carries the connection, for the body reader.
_CONNECTION = "runner_agent.connection"
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class _ServerHandler(ServerHandler):
    def log_exception(self, exc_info: Any) -> None:
        # wsgiref prints the traceback to standard error.
        log.error("local_api_request_failed", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def handle(self) -> None:
        # wsgiref's own, but with a handler that logs through structlog.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ServerHandler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            sys.stderr,
            self.get_environ(),
        )
        # wsgiref reports the finished request through this.
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[_CONNECTION] = self.connection
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        # One line per probe on standard error would drown the daemon's log.
        return None


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, host: str, port: int, wake: Any) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._wake = wake
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        # Each open connection, with the time its request must be in by
        # (None once it is).
        self._open: dict[socket.socket, float | None] = {}
        self.accept_paused_until = 0.0
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

    def get_request(self) -> tuple[Any, Any]:
        try:
            return super().get_request()
        except OSError as error:
            if error.errno in _OUT_OF_RESOURCES:
                # The connection stays queued and the socket readable:
                # without a pause the loop would spin.
                if time.monotonic() >= self.accept_paused_until + ACCEPT_PAUSE:
                    log.warning("local_api_cannot_accept", error=error.strerror)
                self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._open[request] = time.monotonic() + REQUEST_TIMEOUT
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

    def has_room(self) -> bool:
        with self._lock:
            return len(self._open) < MAX_CONNECTIONS

    def received(self, connection: socket.socket) -> None:
        """The request on ``connection`` is in: its deadline is lifted."""
        with self._lock:
            if connection in self._open:
                self._open[connection] = None

    def next_deadline(self) -> float | None:
        with self._lock:
            return min(
                (due for due in self._open.values() if due is not None), default=None
            )

    def cut_off_late(self, now: float) -> None:
        """Cut off the connections whose request is not in by its deadline."""
        with self._lock:
            late = [
                connection
                for connection, due in self._open.items()
                if due is not None and due <= now
            ]
            for connection in late:
                self._open[connection] = None
                _cut(connection)
        for _ in late:
            log.debug("local_api_connection_cut", reason="request too slow")

    def cut_off_all(self, timeout: float) -> None:
        """Cut off every open connection; wait up to ``timeout`` for them to end."""
        with self._lock:
            for connection in self._open:
                _cut(connection)
            self._idle.wait_for(lambda: not self._open, timeout)

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            if request not in self._open:
                return
            was_full = len(self._open) >= MAX_CONNECTIONS
            del self._open[request]
            self._idle.notify_all()
        if was_full:
            self._wake()


def _cut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        return


def _refuse(
    start_response: StartResponse, status: int, message: str
) -> Iterable[bytes]:
    return json_response(status, {"error": message}).send(start_response)


def _received_whole(app: WSGIApplication, server: _Server) -> WSGIApplication:
    """Wrap ``app``: it runs on a request read whole, and its errors are a 500."""

    def application(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("HTTP_TRANSFER_ENCODING"):
            return _refuse(start_response, 411, "send the body with a Content-Length")
        try:
            body = read_body(environ, MAX_BODY)
        except HttpError as refused:
            return _refuse(start_response, refused.status, refused.message)
        except OSError:
            return _refuse(start_response, 400, "the body is incomplete")
        environ["wsgi.input"] = io.BytesIO(body)
        server.received(environ[_CONNECTION])
        try:
            return app(environ, start_response)
        except Exception:  # the endpoint must keep serving
            log.exception("local_api_request_failed", path=environ.get("PATH_INFO"))
            failed = json_response(500, {"error": "internal error"})
            return failed.send(start_response, sys.exc_info())

    return application


class EndpointServer:
    """Serves a WSGI application on ``host:port`` in a named thread."""

    def __init__(
        self, app: WSGIApplication, host: str, port: int, *, name: str
    ) -> None:
        self._waker = Waker()
        self._stop_lock = threading.Lock()
        self._stopping = threading.Event()
        try:
            self._server = _Server(host, port, self._waker.wake)
        except OSError:
            self._waker.close()
            raise
        self._server.set_app(without_head_bodies(_received_whole(app, self._server)))
        self.host = str(self._server.server_name)
        self.port = int(self._server.server_port)
        self.url = serving_url(self.host, self.port)
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
        with self._stop_lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._waker.wake()
            self._thread.join(timeout)
            self._server.cut_off_all(min(timeout, 2.0))
            self._server.server_close()
            self._waker.close()

    def _serve(self) -> None:
        server = self._server
        with selectors.DefaultSelector() as selector:
            selector.register(self._waker, selectors.EVENT_READ)
            listening = False
            while not self._stopping.is_set():
                now = time.monotonic()
                paused = server.accept_paused_until > now
                if listening != (server.has_room() and not paused):
                    listening = not listening
                    if listening:
                        selector.register(server.socket, selectors.EVENT_READ)
                    else:
                        selector.unregister(server.socket)
                wake_at = server.next_deadline()
                if paused and (wake_at is None or server.accept_paused_until < wake_at):
                    wake_at = server.accept_paused_until
                timeout = None if wake_at is None else max(0.0, wake_at - now)
                for key, _ in selector.select(timeout):
                    if key.fileobj is server.socket:
                        server.handle_request()
                    else:
                        self._waker.drain()
                server.cut_off_late(time.monotonic())
