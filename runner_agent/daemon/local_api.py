"""The daemon's local HTTP endpoint: liveness, readiness, status, metrics.

A small WSGI application, served on loopback by default:

``/healthz``  200 while the daemon's main loop is alive, else 503
``/readyz``   200 when the runner can take work, else 503 with the reasons
``/status``   the daemon's status document (never the runner key)
``/metrics``  Prometheus text format

Further routes (the REST adapter) can be mounted under a prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from runner_agent.daemon.status import AgentStatus
from runner_agent.daemon.telemetry import CONTENT_TYPE, Telemetry
from runner_agent.wsgi import Response, json_response

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The main loop ticks every second; three missed ticks mean it is stuck.
LOOP_STALE_AFTER = 5.0


class LocalApi:
    """The WSGI application of the local endpoint."""

    def __init__(
        self,
        status: AgentStatus,
        telemetry: Telemetry,
        *,
        mounts: dict[str, WsgiApp] | None = None,
    ) -> None:
        self.status = status
        self.telemetry = telemetry
        self.mounts = mounts or {}

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _json(start_response, 405, {"error": "only GET is served here"})

        if path == "/healthz":
            alive = time.monotonic() - self.status.loop_monotonic < LOOP_STALE_AFTER
            body: dict[str, Any] = {"status": "alive" if alive else "stuck"}
            return _json(start_response, 200 if alive else 503, body)
        if path == "/readyz":
            ready, reasons = self.status.readiness()
            body = {"ready": ready, "reasons": reasons}
            return _json(start_response, 200 if ready else 503, body)
        if path == "/status":
            return _json(start_response, 200, self.status.to_json())
        if path == "/metrics":
            metrics = Response(
                200, self.telemetry.render(), [("Content-Type", CONTENT_TYPE)]
            )
            return metrics.send(start_response)
        return _json(start_response, 404, {"error": f"no such path: {path}"})


def _json(start_response: StartResponse, status: int, body: Any) -> Iterable[bytes]:
    return json_response(status, body).send(start_response)
