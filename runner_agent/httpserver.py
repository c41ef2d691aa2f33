"""Serve a WSGI application with waitress, in a thread that can be stopped.

waitress is pure Python, threaded and speaks HTTP/1.1 with keep-alive, which
is all the emulator, the MCP server over HTTP and the test doubles need.
(The daemon's local endpoint is served by
:mod:`runner_agent.daemon.endpoint_server`, which costs less memory.)
Its own ``serve()`` blocks until a signal and cannot be stopped from another
thread, so this module runs waitress's event loop itself:
:func:`serve_in_thread` binds first (the caller may connect as soon as it
returns), then polls the socket map in a named daemon thread until
:meth:`ServerHandle.stop` asks it to end.

Stopping closes the listener, every open connection and the worker threads,
then joins the loop thread, so the port is free again when ``stop`` returns.

An application may raise :class:`DropConnection` to close the client's
connection without sending any answer (used to emulate a reply lost in
flight).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.server import create_server

from runner_agent.wsgi import serving_url, without_head_bodies

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DropConnection", "ServerHandle", "serve_in_thread"]

_POLL_TIMEOUT = 1.0


class DropConnection(Exception):
    """Raised by an application to close the connection without answering."""


def _quiet_waitress() -> None:
    # waitress reports client disconnects, queue depth and shutdown progress
    # at info and warning level; none of it helps an operator of this agent.
    # Errors (an application crash) still get through.
    logging.getLogger("waitress").setLevel(logging.ERROR)


def _droppable(app: WSGIApplication) -> WSGIApplication:
    """Wrap ``app``: :class:`DropConnection` closes the connection, HEAD has no body."""

    def application(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except DropConnection:
            # waitress closes a channel whose task raised this, writing
            # nothing when no header went out yet.
            raise ClientDisconnected from None

    return without_head_bodies(application)


class ServerHandle:
    """A running server: where it listens and how to stop it."""

    def __init__(self, server: Any, thread_name: str, unix_socket: str | None) -> None:
        self._server = server
        self._map: dict[int, Any] = server._map
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._trigger_closed = False
        self.unix_socket = unix_socket
        if unix_socket is None:
            self.host = str(server.effective_host)
            self.port = int(server.effective_port)
            self.url = serving_url(self.host, self.port)
        else:
            self.host = "localhost"
            self.port = 0
            self.url = "http://localhost"
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def __repr__(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"<ServerHandle {where} running={self.running}>"

    @property
    def running(self) -> bool:
        """Whether the event loop thread is still alive."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and all connections, then join the loop thread.

        Calling it again, or on a server that already stopped, does nothing.
        """
        with self._lock:
            first = not self._stopped
            self._stopped = True
            self._stopping.set()
            if first and not self._trigger_closed:
                self._server.pull_trigger()
        self._thread.join(timeout)

    def _start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set() and self._map:
                wasyncore.loop(
                    timeout=_POLL_TIMEOUT, map=self._map, use_poll=True, count=1
                )
        finally:
            self._shut_down()

    def _shut_down(self) -> None:
        # Stop accepting, then close the open connections so that workers
        # blocked on a slow client wake up, then let the workers end. The
        # wake-up pipe goes last: workers and stop() write to it until then.
        wasyncore.dispatcher.close(self._server)
        for channel in list(self._map.values()):
            if isinstance(channel, HTTPChannel):
                channel.handle_close()
        self._server.task_dispatcher.shutdown(timeout=2.0)
        with self._lock:
            self._trigger_closed = True
            self._server.close()
        wasyncore.close_all(self._map, ignore_all=True)
        if self.unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_socket)


def serve_in_thread(
    app: WSGIApplication,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    unix_socket: str | None = None,
    threads: int = 8,
    name: str = "http",
) -> ServerHandle:
    """Bind ``app`` to ``host:port`` (or ``unix_socket``) and serve it.

    Port 0 picks a free port; the handle reports the real one. The server is
    listening when this returns.
    """
    _quiet_waitress()
    options: dict[str, Any] = {"threads": threads}
    if unix_socket is None:
        options.update(host=host, port=port)
    else:
        options.update(unix_socket=unix_socket, unix_socket_perms="600")
    server = create_server(_droppable(app), map={}, **options)
    handle = ServerHandle(server, name, unix_socket)
    handle._start()

    return handle
