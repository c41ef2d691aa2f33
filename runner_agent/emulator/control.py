"""The control surface under ``/_emulator``: JSON in and out, no keys.

It answers loopback clients only (403 otherwise), since it shows every key.

=========  ========================  =========================================
method     path                      does
=========  ========================  =========================================
GET        /state                    runners (draining flag, healthchecks,
                                     sandboxes, snapshots), keys, settings
POST       /sandboxes                ``{runnerId, id?, state?}``: place one
PATCH      /sandboxes/{id}           ``{state}``: change its state
DELETE     /sandboxes/{id}           remove it
POST       /snapshots                ``{runnerId, ref}``: a runner holds a ref
DELETE     /snapshots/{id}           remove it
POST       /keys                     ``{permissions}``: an extra organization
                                     key limited to read, write and/or delete
POST       /faults                   inject a fault (see ``faults``)
GET        /faults                   the faults in force
DELETE     /faults                   clear them
GET        /requests                 the request log, oldest first
DELETE     /requests                 empty it
POST       /tick                     run one periodic check now
POST       /reset                    back to a fresh organization: no runners,
                                     sandboxes, snapshots, extra keys, faults
                                     or log (the keys and region stay)
=========  ========================  =========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from runner_agent.emulator.faults import Fault, FaultBoard, RequestLog
from runner_agent.emulator.store import Store
from runner_agent.emulator.validation import validate_uuid
from runner_agent.wsgi import (
    HttpError,
    Request,
    Response,
    error_response,
    json_response,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["CONTROL_PREFIX", "ControlSurface"]

CONTROL_PREFIX = "/_emulator"
_LOOPBACK = ("127.", "::1", "::ffff:127.", "localhost")

Action = Callable[["ControlSurface", Request, str], Response]


class ControlSurface:
    """The WSGI application of ``/_emulator``."""

    def __init__(self, store: Store, faults: FaultBoard, log: RequestLog) -> None:
        self.store = store
        self.faults = faults
        self.log = log

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = self._dispatch(request)
        except HttpError as error:
            response = error_response(error, request)

        return response.send(start_response)

    def _dispatch(self, request: Request) -> Response:
        if not request.remote_addr.startswith(_LOOPBACK):
            raise HttpError(403, "The control surface answers loopback clients only")
        tail = request.path[len(CONTROL_PREFIX) :].strip("/")
        collection, _, item = tail.partition("/")
        action = _ACTIONS.get((request.method, collection, bool(item)))
        if action is None:
            raise HttpError(404, f"Cannot {request.method} {request.path}")

        return action(self, request, item)

    def state(self, _: Request, __: str) -> Response:
        """The whole state, keys included."""
        return json_response(
            200, {**self.store.dump(), "faults": self.faults.entries()}
        )

    def add_sandbox(self, request: Request, _: str) -> Response:
        """Place a sandbox on a runner."""
        body = request.json_object()
        sandbox_id = body.get("id")
        if sandbox_id is not None:
            validate_uuid(_string(body, "id"), "id")
        sandbox = self.store.add_sandbox(
            _runner_id(body), sandbox_id, _string(body, "state", "started")
        )
        return json_response(201, sandbox)

    def change_sandbox(self, request: Request, sandbox_id: str) -> Response:
        """Change a sandbox's state."""
        state = _string(request.json_object(), "state")
        return json_response(200, self.store.set_sandbox_state(sandbox_id, state))

    def remove_sandbox(self, _: Request, sandbox_id: str) -> Response:
        """Remove a sandbox."""
        self.store.remove_sandbox(sandbox_id)
        return Response(204)

    def add_snapshot(self, request: Request, _: str) -> Response:
        """Record a snapshot on a runner."""
        body = request.json_object()
        snapshot = self.store.add_snapshot(_runner_id(body), _string(body, "ref"))
        return json_response(201, snapshot)

    def remove_snapshot(self, _: Request, snapshot_id: str) -> Response:
        """Remove a snapshot."""
        self.store.remove_snapshot(snapshot_id)
        return Response(204)

    def add_key(self, request: Request, _: str) -> Response:
        """Create an extra organization key with some permissions."""
        permissions = request.json_object().get("permissions")
        if not isinstance(permissions, list) or not all(
            isinstance(p, str) for p in permissions
        ):
            raise HttpError(400, "permissions must be a list of strings")
        key = self.store.add_organization_key(permissions)
        return json_response(201, {"key": key, "permissions": sorted(permissions)})

    def add_fault(self, request: Request, _: str) -> Response:
        """Inject a fault."""
        fault = self.faults.add(Fault.from_json(request.json()))
        return json_response(201, fault.to_json())

    def list_faults(self, _: Request, __: str) -> Response:
        """The faults in force."""
        return json_response(200, self.faults.entries())

    def clear_faults(self, _: Request, __: str) -> Response:
        """Clear every fault."""
        self.faults.clear()
        return Response(204)

    def requests(self, _: Request, __: str) -> Response:
        """The request log."""
        return json_response(200, self.log.entries())

    def clear_requests(self, _: Request, __: str) -> Response:
        """Empty the request log."""
        self.log.clear()
        return Response(204)

    def tick(self, _: Request, __: str) -> Response:
        """Run one periodic check now."""
        return json_response(200, {"runners": self.store.check()})

    def reset(self, _: Request, __: str) -> Response:
        """Forget everything but the settings."""
        self.store.reset()
        self.faults.clear()
        self.log.clear()
        return Response(204)


def _string(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"{key} must be a non-empty string")
    return value


def _runner_id(body: dict[str, Any]) -> str:
    return validate_uuid(_string(body, "runnerId"), "runnerId")


# (method, collection, whether an item id follows) -> action
_ACTIONS: dict[tuple[str, str, bool], Action] = {
    ("GET", "state", False): ControlSurface.state,
    ("POST", "sandboxes", False): ControlSurface.add_sandbox,
    ("PATCH", "sandboxes", True): ControlSurface.change_sandbox,
    ("DELETE", "sandboxes", True): ControlSurface.remove_sandbox,
    ("POST", "snapshots", False): ControlSurface.add_snapshot,
    ("DELETE", "snapshots", True): ControlSurface.remove_snapshot,
    ("POST", "keys", False): ControlSurface.add_key,
    ("POST", "faults", False): ControlSurface.add_fault,
    ("GET", "faults", False): ControlSurface.list_faults,
    ("DELETE", "faults", False): ControlSurface.clear_faults,
    ("GET", "requests", False): ControlSurface.requests,
    ("DELETE", "requests", False): ControlSurface.clear_requests,
    ("POST", "tick", False): ControlSurface.tick,
    ("POST", "reset", False): ControlSurface.reset,
}
