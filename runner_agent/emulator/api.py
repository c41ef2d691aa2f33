"""The runners API under ``/api``, as a WSGI application.

Each request goes through the same steps, in the control plane's order:

1. an injected fault for its path, if any (delay, drop or error);
2. the route: an unknown path, or a known path with a method it does not
   take, is 404 ``Cannot <METHOD> <path>`` as the control plane (a Nest
   application) answers, never 405;
3. the key: missing or unknown is 401, a known key of the wrong role or
   without the permission is 403, and so is an organization key sent with
   an ``X-Daytona-Organization-ID`` other than the emulator's; keys are
   checked before ids, so a wrong key gets 401 whatever the id;
4. ids (400 unless a UUID), then the body (400 with the reason);
5. the operation itself: 404 for an unknown runner, sandbox or region (an
   unknown ``regionId`` in a create body is 404, like any unknown
   resource), 409 for a taken name, 400 for an unmet delete precondition.

Every request to this application is written to the request log.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from runner_agent.emulator.faults import Fault, FaultBoard, RequestLog
from runner_agent.emulator.records import Permission, Principal, Role
from runner_agent.emulator.store import Store
from runner_agent.emulator.validation import (
    validate_create,
    validate_flag,
    validate_healthcheck,
    validate_uuid,
)
from runner_agent.httpserver import DropConnection
from runner_agent.wsgi import (
    HttpError,
    Request,
    Response,
    error_response,
    iso_timestamp,
    json_response,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["RunnersApi"]

logger = structlog.get_logger(__name__)

API_PREFIX = "/api"
_LOGGED_HEADERS = ("User-Agent", "X-Daytona-Organization-ID", "Content-Type")

Params = dict[str, str]
Handler = Callable[["RunnersApi", Request, Principal, Params], Response]


@dataclass(frozen=True)
class Route:
    """One operation: method, path pattern, who may call it, its handler."""

    method: str
    pattern: tuple[str, ...]
    role: Role
    permission: Permission | None
    handler: Handler

    def match(self, segments: list[str]) -> Params | None:
        """The path parameters when ``segments`` fit the pattern."""
        if len(segments) != len(self.pattern):
            return None
        params: Params = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


@dataclass
class _Trace:
    """What the request log keeps about one request."""

    role: str | None = None
    fault: Fault | None = None


class RunnersApi:
    """The WSGI application of the runners API."""

    def __init__(
        self,
        store: Store,
        faults: FaultBoard,
        log: RequestLog,
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.faults = faults
        self.log = log
        self._stopping = stopping

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request.from_environ(environ)
        trace = _Trace()
        try:
            response = self._answer(request, trace)
        except DropConnection:
            self._record(request, trace, None, started)
            raise
        self._record(request, trace, response.status, started)

        return response.send(start_response)

    def _answer(self, request: Request, trace: _Trace) -> Response:
        api_path = _api_path(request.path)
        fault = None
        if api_path is not None:
            fault = trace.fault = self.faults.take(request.method, api_path)
        try:
            if fault is not None:
                self._before(fault)
            response = self._dispatch(request, api_path, trace)
        except HttpError as error:
            response = error_response(error, request)
        except DropConnection:
            raise
        except Exception:
            logger.exception("emulator_request_failed", path=request.path)
            response = error_response(HttpError(500, "Internal error"), request)
        if fault is not None:
            self._after(fault)

        return response

    def _before(self, fault: Fault) -> None:
        self._pause(fault.delay)
        if fault.drop:
            raise DropConnection
        if fault.status:
            raise fault.error()

    def _after(self, fault: Fault) -> None:
        if fault.status or fault.drop:
            return
        self._pause(fault.delay_after)
        if fault.drop_after:
            raise DropConnection

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _dispatch(
        self, request: Request, api_path: str | None, trace: _Trace
    ) -> Response:
        found = None if api_path is None else _find_route(request.method, api_path)
        if found is None:
            raise HttpError(404, f"Cannot {request.method} {request.path}")
        route, params = found
        principal = self._authenticate(request, route, trace)
        for name, value in params.items():
            validate_uuid(value, name)

        return route.handler(self, request, principal, params)

    def _authenticate(self, request: Request, route: Route, trace: _Trace) -> Principal:
        wait = self.store.lockout.remaining()
        if wait > 0:
            raise HttpError(
                429,
                "Too many requests with a refused key; try again later",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        principal = self._principal(request, trace)
        if principal.role != route.role:
            raise HttpError(403, f"This operation needs the {route.role} key")
        if principal.role == "organization":
            self._check_organization(request, principal, route)

        return principal

    def _principal(self, request: Request, trace: _Trace) -> Principal:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            self.store.lockout.note_failure()
            raise HttpError(401, "Missing bearer token")
        principal = self.store.principal_for(key.strip())
        if principal is None:
            trace.role = "unknown"
            self.store.lockout.note_failure()
            raise HttpError(401, "Invalid API key")
        trace.role = principal.role

        return principal

    def _check_organization(
        self, request: Request, principal: Principal, route: Route
    ) -> None:
        organization = request.headers.get("x-daytona-organization-id")
        if organization and organization != self.store.settings.organization_id:
            raise HttpError(
                403, f"This key does not belong to organization {organization}"
            )
        if route.permission and route.permission not in principal.permissions:
            raise HttpError(
                403, f"This key lacks the {route.permission} permission on runners"
            )

    def _record(
        self, request: Request, trace: _Trace, status: int | None, started: float
    ) -> None:
        headers = {
            name: request.headers[name.lower()]
            for name in _LOGGED_HEADERS
            if name.lower() in request.headers
        }
        self.log.append(
            {
                "time": iso_timestamp(time.time()),
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "status": status,
                "dropped": status is None,
                "body": request.json_or_none(),
                "headers": headers,
                "role": trace.role,
                "remotePort": request.remote_port,
                "fault": None if trace.fault is None else trace.fault.id,
                "durationMs": round((time.monotonic() - started) * 1000, 1),
            }
        )

    # Operations

    def create(self, request: Request, _: Principal, __: Params) -> Response:
        """``POST /runners``."""
        region_id, name, tags, sandbox_class = validate_create(request.json_object())
        created = self.store.create_runner(region_id, name, tags, sandbox_class)
        return json_response(201, created)

    def list_runners(self, request: Request, _: Principal, __: Params) -> Response:
        """``GET /runners?regionId=``."""
        region_id = request.query.get("regionId", [""])[0] or None
        return json_response(200, self.store.list_runners(region_id))

    def me(self, _: Request, principal: Principal, __: Params) -> Response:
        """``GET /runners/me``."""
        return json_response(200, self.store.runner_full(_runner_id(principal)))

    def my_snapshots(self, _: Request, principal: Principal, __: Params) -> Response:
        """``GET /runners/me/snapshots``."""
        return json_response(200, self.store.snapshot_refs(_runner_id(principal)))

    def healthcheck(
        self, request: Request, principal: Principal, _: Params
    ) -> Response:
        """``POST /runners/healthcheck``."""
        report = validate_healthcheck(request.json_object())
        self.store.healthcheck(_runner_id(principal), report)
        return Response(200)

    def by_sandbox(self, _: Request, __: Principal, params: Params) -> Response:
        """``GET /runners/by-sandbox/{sandboxId}``."""
        return json_response(200, self.store.runner_of_sandbox(params["sandboxId"]))

    def by_snapshot_ref(self, request: Request, _: Principal, __: Params) -> Response:
        """``GET /runners/by-snapshot-ref?ref=``."""
        ref = request.query.get("ref", [""])[0]
        if not ref:
            raise HttpError(400, "The ref query parameter is required")
        return json_response(200, self.store.runners_with_snapshot(ref))

    def get_runner(self, _: Request, __: Principal, params: Params) -> Response:
        """``GET /runners/{id}``."""
        return json_response(200, self.store.runner(params["id"]))

    def full(self, _: Request, __: Principal, params: Params) -> Response:
        """``GET /runners/{id}/full``."""
        return json_response(200, self.store.runner_full(params["id"]))

    def delete(self, _: Request, __: Principal, params: Params) -> Response:
        """``DELETE /runners/{id}``."""
        self.store.delete_runner(params["id"])
        return Response(204)

    def scheduling(self, request: Request, _: Principal, params: Params) -> Response:
        """``PATCH /runners/{id}/scheduling``."""
        value = validate_flag(request.json_object(), "unschedulable")
        return json_response(200, self.store.set_unschedulable(params["id"], value))

    def draining(self, request: Request, _: Principal, params: Params) -> Response:
        """``PATCH /runners/{id}/draining``."""
        value = validate_flag(request.json_object(), "draining")
        return json_response(200, self.store.set_draining(params["id"], value))


def _route(
    method: str, path: str, role: Role, permission: Permission | None, handler: Any
) -> Route:
    return Route(method, tuple(path.strip("/").split("/")), role, permission, handler)


# Literal paths come before the ones with an id, as the control plane
# declares them, so that /runners/me never reads as a runner id.
ROUTES: tuple[Route, ...] = (
    _route("POST", "/runners", "organization", "write", RunnersApi.create),
    _route("GET", "/runners", "organization", "read", RunnersApi.list_runners),
    _route("GET", "/runners/me", "runner", None, RunnersApi.me),
    _route("GET", "/runners/me/snapshots", "runner", None, RunnersApi.my_snapshots),
    _route("POST", "/runners/healthcheck", "runner", None, RunnersApi.healthcheck),
    _route(
        "GET", "/runners/by-sandbox/{sandboxId}", "proxy", None, RunnersApi.by_sandbox
    ),
    _route(
        "GET", "/runners/by-snapshot-ref", "proxy", None, RunnersApi.by_snapshot_ref
    ),
    _route("GET", "/runners/{id}", "organization", "read", RunnersApi.get_runner),
    _route("GET", "/runners/{id}/full", "proxy", None, RunnersApi.full),
    _route("DELETE", "/runners/{id}", "organization", "delete", RunnersApi.delete),
    _route(
        "PATCH",
        "/runners/{id}/scheduling",
        "organization",
        "write",
        RunnersApi.scheduling,
    ),
    _route(
        "PATCH", "/runners/{id}/draining", "organization", "write", RunnersApi.draining
    ),
)


def _api_path(path: str) -> str | None:
    """The path below ``/api``, or ``None`` for a path outside it."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :] or "/"
    return None


def _find_route(method: str, api_path: str) -> tuple[Route, Params] | None:
    segments = api_path.strip("/").split("/")
    for route in ROUTES:
        if route.method != method:
            continue
        params = route.match(segments)
        if params is not None:
            return route, params
    return None


def _runner_id(principal: Principal) -> str:
    assert principal.runner_id is not None, "a runner key always names its runner"
    return principal.runner_id
