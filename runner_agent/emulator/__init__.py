"""A local, stateful emulator of the Daytona runners API.

It serves the runners API under ``/api`` with the control plane's paths,
status codes, error bodies, roles and runner state machine, and a control
surface under ``/_emulator`` to place sandboxes and snapshots, add keys,
inject faults, read the request log and run the periodic check on demand.

In a test::

    with Emulator.start(EmulatorSettings(unresponsive_after=0.2)) as emulator:
        httpx.post(f"{emulator.url}/runners", headers=..., json=...)

From the command line, :func:`serve` runs it in the foreground.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runner_agent.emulator.api import RunnersApi
from runner_agent.emulator.control import CONTROL_PREFIX, ControlSurface
from runner_agent.emulator.faults import FaultBoard, RequestLog
from runner_agent.emulator.settings import EmulatorSettings
from runner_agent.emulator.store import Clock, Store
from runner_agent.httpserver import ServerHandle, serve_in_thread

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["Emulator", "EmulatorSettings", "Store", "serve"]


class _Application:
    """Sends ``/_emulator`` to the control surface, the rest to the API."""

    def __init__(self, api: RunnersApi, control: ControlSurface) -> None:
        self.api = api
        self.control = control

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control(environ, start_response)
        return self.api(environ, start_response)


class Emulator:
    """A running emulator: its addresses, its keys, its store."""

    def __init__(
        self,
        settings: EmulatorSettings,
        store: Store,
        server: ServerHandle,
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.store = store
        self._server = server
        self._stopping = stopping
        self._ticker = threading.Thread(
            target=self._tick_forever, name="emulator-ticker", daemon=True
        )
        self.base_url = server.url
        self.url = f"{server.url}/api"
        self.control_url = f"{server.url}{CONTROL_PREFIX}"
        self.organization_id = settings.organization_id
        self.organization_key = settings.organization_key
        self.proxy_key = settings.proxy_key
        self.region_id = settings.region_id
        self.region_name = settings.region_name

    @classmethod
    def start(
        cls, settings: EmulatorSettings | None = None, *, clock: Clock = time.time
    ) -> Emulator:
        """Start an emulator in background threads; it listens on return."""
        settings = settings or EmulatorSettings()
        store = Store(settings, clock)
        faults = FaultBoard()
        log = RequestLog(settings.request_log_size)
        stopping = threading.Event()
        app = _Application(
            RunnersApi(store, faults, log, stopping),
            ControlSurface(store, faults, log),
        )
        server = serve_in_thread(
            app,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            name="emulator-http",
        )
        emulator = cls(settings, store, server, stopping)
        emulator._ticker.start()

        return emulator

    def __repr__(self) -> str:
        return f"<Emulator {self.url}>"

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the periodic check and the server; idempotent."""
        # Setting the event first also cuts short any injected delay, so
        # that no worker keeps the server from closing.
        self._stopping.set()
        self._server.stop()
        if self._ticker.is_alive() and self._ticker is not threading.current_thread():
            self._ticker.join(5.0)

    def announcement(self) -> dict[str, Any]:
        """What a script needs to use this emulator, as one JSON object."""
        return {
            "url": self.url,
            "controlUrl": self.control_url,
            "organizationId": self.organization_id,
            "organizationKey": self.organization_key,
            "proxyKey": self.proxy_key,
            "regionId": self.region_id,
            "regionName": self.region_name,
            "pid": os.getpid(),
        }

    def _tick_forever(self) -> None:
        while not self._stopping.wait(self.settings.check_interval):
            self.store.check()


def serve(
    settings: EmulatorSettings,
    announce: Callable[[dict[str, Any]], None],
    stop_event: threading.Event,
) -> None:
    """Run an emulator until ``stop_event`` is set, blocking the caller.

    ``announce`` is called once with :meth:`Emulator.announcement` as soon
    as the emulator accepts connections.
    """
    emulator = Emulator.start(settings)
    try:
        announce(emulator.announcement())
        # A bounded wait lets the main thread run its signal handlers.
        while not stop_event.wait(0.5):
            pass
    finally:
        emulator.stop()
