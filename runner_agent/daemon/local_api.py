"""The daemon's local HTTP endpoint: liveness, readiness, status, metrics.

A small WSGI application, served on loopback by default:

``/healthz``  200 while the daemon's main loop is alive, else 503
``/readyz``   200 when the runner can take work, else 503 with the reasons
``/status``   the daemon's status document (never the runner key)
``/metrics``  Prometheus text format

Further routes (the REST adapter) can be mounted under a prefix.
:func:`start_local_api` binds it before the daemon registers, so a taken
address stops the agent before it has created a runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner_agent import errors
from runner_agent.context import AgentContext
from runner_agent.daemon.endpoint_server import EndpointServer
from runner_agent.daemon.status import AgentStatus
from runner_agent.daemon.telemetry import CONTENT_TYPE, Telemetry
from runner_agent.wsgi import Response, json_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

# The main loop sleeps until its next chore; this late past it, it is stuck.
LOOP_STALE_AFTER = 5.0


class LocalApi:
    """The WSGI application of the local endpoint."""

    def __init__(
        self,
        status: AgentStatus,
        telemetry: Telemetry,
        *,
        mounts: dict[str, WSGIApplication] | None = None,
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
            alive = self.status.loop_alive(LOOP_STALE_AFTER)
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


@dataclass(frozen=True)
class LocalEndpoint:
    """The running endpoint and the metrics it serves."""

    server: EndpointServer
    telemetry: Telemetry


def start_local_api(context: AgentContext, status: AgentStatus) -> LocalEndpoint | None:
    """Listen on ``local_api.listen``; None when it is off.

    A taken or forbidden address is a configuration error (exit code 78).
    The caller logs ``local_api_listening`` once the agent has started, so
    that a start that fails on its configuration stays one line.
    """
    config = context.config
    address = config.local_api.address
    if address is None:
        return None
    telemetry = Telemetry(status)
    mounts: dict[str, WSGIApplication] = {}
    if config.local_api.rest:
        from runner_agent.rest_adapter import build_rest_app

        mounts["/v1"] = build_rest_app(context)
    host, port = address
    try:
        server = EndpointServer(
            LocalApi(status, telemetry, mounts=mounts), host, port, name="local-api"
        )
    except OSError as error:
        raise errors.ConfigError(
            f"cannot listen on {config.local_api.listen}: {error.strerror}",
            key="local_api.listen",
            origin=str(config.origin("local_api.listen")),
        ) from None
    return LocalEndpoint(server, telemetry)
