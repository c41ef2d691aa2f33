"""The runners API mirrored under ``/v1`` for local tools: a WSGI application.

Each route forwards to the control plane through :class:`RunnersClient` with
the keys of the configuration, and answers the API's own status codes and
error bodies (``{path, timestamp, statusCode, error, message}``)::

    GET     /v1/runners?regionId=            list runners
    POST    /v1/runners                      create runner (201)
    GET     /v1/runners/me                   this runner (runner key)
    GET     /v1/runners/me/snapshots         snapshots of this runner
    GET     /v1/runners/by-sandbox/{id}      runner of a sandbox (proxy key)
    GET     /v1/runners/by-snapshot-ref?ref= runners holding a snapshot
    POST    /v1/runners/healthcheck          send a healthcheck (no body:
                                             measure this host)
    GET     /v1/runners/{id}                 runner by id
    GET     /v1/runners/{id}/full            runner by id, full (proxy key)
    DELETE  /v1/runners/{id}                 delete runner (204)
    PATCH   /v1/runners/{id}/scheduling      {"unschedulable": bool}
    PATCH   /v1/runners/{id}/draining        {"draining": bool}

Reads are open on loopback; mutations need ``Authorization: Bearer`` with
``local_api.token`` (403 while no token is configured, 401 for a wrong one),
and beyond loopback every route needs it. Keys never leave unmasked: a
runner's ``apiKey`` is masked, and a created runner's one-time key is
written to ``<state_dir>/created-runners/<id>.json`` (0600, in the format
of ``identity.json``) and answered masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import structlog

from runner_agent import lifecycle
from runner_agent.config import Config
from runner_agent.config.values import is_loopback
from runner_agent.context import AgentContext
from runner_agent.created_runners import CreatedRunnerKeys, created_runner_json
from runner_agent.credentials import bearer_matches, redact, scrub
from runner_agent.errors import (
    ApiError,
    ApiTimeoutError,
    MissingCredentialError,
    RateLimitedError,
    RunnerAgentError,
    RunnerRetiredError,
)
from runner_agent.wsgi import (
    HttpError,
    Request,
    Response,
    error_document,
    json_response,
)

__all__ = [
    "RestAdapter",
    "build_rest_app",
]

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

log = structlog.get_logger(__name__)

MAX_BODY: Final = 64 * 1024
_CREATE_FIELDS = frozenset({"regionId", "name", "tags", "sandboxClass"})


def build_rest_app(context: AgentContext) -> WSGIApplication:
    """The REST adapter over ``context``'s client, to mount at ``/v1``."""
    return RestAdapter(context)


@dataclass(frozen=True)
class Answer:
    """A status and a JSON document (None: no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["RestAdapter", Request], Answer]


@dataclass(frozen=True)
class Route:
    """One method and path pattern of the adapter."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler

    @property
    def mutating(self) -> bool:
        return self.method not in ("GET", "HEAD")


class RestAdapter:
    """The WSGI application of the ``/v1`` routes."""

    def __init__(self, context: AgentContext) -> None:
        config = context.config
        self.context = context
        self.client = context.client
        self.keys = CreatedRunnerKeys(config.state_dir)
        address = config.local_api.address
        self.remote = address is not None and not is_loopback(address[0])

    @property
    def config(self) -> Config:
        """The daemon's configuration as it is now (a reload replaces it)."""
        return self.context.config

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            request = Request.from_environ(environ, max_body=MAX_BODY)
        except HttpError as error:
            unread = Request(method="?", path=str(environ.get("PATH_INFO", "")))
            return _send(start_response, _error_answer(unread, error))

        answer = self._answer(request)
        if request.method != "GET" or answer.status >= 400:
            log.info(
                "rest_request",
                method=request.method,
                path=request.path,
                status=answer.status,
            )
        return _send(start_response, answer)

    def _answer(self, request: Request) -> Answer:
        try:
            route = self._route(request)
            self._authorize(request, route)
            return _scrubbed(route.handler(self, request))
        except HttpError as error:
            return _error_answer(request, error)
        except ApiError as error:
            return _error_answer(request, _from_api_error(error))
        except MissingCredentialError as error:
            return _error_answer(request, HttpError(503, error.reason))
        except RunnerRetiredError as error:
            return _error_answer(request, HttpError(409, str(error)))
        except RunnerAgentError as error:
            return _error_answer(request, HttpError(500, str(error)))
        except Exception:
            # The boundary of the adapter: the daemon must keep serving.
            log.exception("rest_handler_failed", method=request.method)
            return _error_answer(request, HttpError(500, "Internal server error"))

    def _route(self, request: Request) -> Route:
        allowed: list[str] = []
        for route in ROUTES:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method == request.method:
                request.params = match.groupdict()
                return route
            allowed.append(route.method)
        if allowed:
            raise HttpError(
                405,
                f"Cannot {request.method} {request.path}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise HttpError(404, f"Cannot {request.method} {request.path}")

    def _authorize(self, request: Request, route: Route) -> None:
        token = self.config.local_api.token
        if not self.remote:
            _refuse_foreign_sites(request)
        if not route.mutating and not self.remote:
            return
        if token is None:
            raise HttpError(
                403,
                "Changes through the local REST adapter are off: set "
                "local_api.token_file (or RUNNER_AGENT_LOCAL_TOKEN) and send "
                "it as a bearer token",
            )
        if not bearer_matches(request.headers.get("authorization", ""), token):
            raise HttpError(
                401,
                "Missing or wrong bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="runner-agent"'},
            )

    # The handlers, one per route.

    def list_runners(self, request: Request) -> Answer:
        runners = self.client.list_runners(request.query_value("regionId"))
        return Answer(200, [runner.to_json() for runner in runners])

    def create_runner(self, request: Request) -> Answer:
        body = _object_body(request)
        unknown = sorted(set(body) - _CREATE_FIELDS)
        if unknown:
            raise HttpError(400, f"property {unknown[0]} should not exist")
        region_id = _text_field(body, "regionId")
        name = _text_field(body, "name")
        tags = _tags_field(body)
        sandbox_class = body.get("sandboxClass")
        if sandbox_class is not None and not isinstance(sandbox_class, str):
            raise HttpError(400, "sandboxClass must be a string")
        created, path = self.keys.create(
            self.client,
            region_id=region_id,
            name=name,
            tags=tags,
            sandbox_class=sandbox_class,
            api_url=self.config.api_url,
        )
        return Answer(201, created_runner_json(created, path))

    def get_me(self, request: Request) -> Answer:
        return Answer(200, self.client.get_me().to_json())

    def get_my_snapshots(self, request: Request) -> Answer:
        return Answer(200, self.client.get_my_snapshots())

    def get_by_sandbox(self, request: Request) -> Answer:
        runner = self.client.get_by_sandbox(request.params["id"])
        return Answer(200, runner.to_json())

    def get_by_snapshot_ref(self, request: Request) -> Answer:
        ref = request.query_value("ref")
        if not ref:
            raise HttpError(400, "ref is required")
        holders = self.client.get_by_snapshot_ref(ref)
        return Answer(200, [holder.to_json() for holder in holders])

    def healthcheck(self, request: Request) -> Answer:
        body = _json(request)
        if body is None:
            body = self._measure()
        elif not isinstance(body, dict):
            raise HttpError(400, "The body must be a JSON object (RunnerHealthcheck)")
        self.client.send_healthcheck(body)
        return Answer(200)

    def get_runner(self, request: Request) -> Answer:
        return Answer(200, self.client.get_runner(request.params["id"]).to_json())

    def get_runner_full(self, request: Request) -> Answer:
        runner = self.client.get_runner_full(request.params["id"])
        return Answer(200, runner.to_json())

    def delete_runner(self, request: Request) -> Answer:
        self.client.delete_runner(request.params["id"])
        return Answer(204)

    def set_scheduling(self, request: Request) -> Answer:
        unschedulable = _flag_field(_object_body(request), "unschedulable")
        runner = lifecycle.set_scheduling(
            self.context, request.params["id"], unschedulable=unschedulable
        )
        return Answer(200, runner.to_json())

    def set_draining(self, request: Request) -> Answer:
        draining = _flag_field(_object_body(request), "draining")
        runner = lifecycle.set_draining(
            self.context, request.params["id"], draining=draining
        )
        return Answer(200, runner.to_json())

    def _measure(self) -> dict[str, Any]:
        from runner_agent.payload import measure_once

        return measure_once(self.config, self.context.local_identity())


def _path(method: str, path: str, handler: Handler) -> Route:
    pattern = re.compile(path.replace("{id}", r"(?P<id>[^/]+)"))
    return Route(method, pattern, handler)


# Fixed paths come before /v1/runners/{id}, which would swallow them.
ROUTES: Final[tuple[Route, ...]] = (
    _path("GET", "/v1/runners", RestAdapter.list_runners),
    _path("POST", "/v1/runners", RestAdapter.create_runner),
    _path("GET", "/v1/runners/me", RestAdapter.get_me),
    _path("GET", "/v1/runners/me/snapshots", RestAdapter.get_my_snapshots),
    _path("GET", "/v1/runners/by-sandbox/{id}", RestAdapter.get_by_sandbox),
    _path("GET", "/v1/runners/by-snapshot-ref", RestAdapter.get_by_snapshot_ref),
    _path("POST", "/v1/runners/healthcheck", RestAdapter.healthcheck),
    _path("GET", "/v1/runners/{id}", RestAdapter.get_runner),
    _path("DELETE", "/v1/runners/{id}", RestAdapter.delete_runner),
    _path("GET", "/v1/runners/{id}/full", RestAdapter.get_runner_full),
    _path("PATCH", "/v1/runners/{id}/scheduling", RestAdapter.set_scheduling),
    _path("PATCH", "/v1/runners/{id}/draining", RestAdapter.set_draining),
)


def _refuse_foreign_sites(request: Request) -> None:
    """Refuse what a web page could send to a loopback port.

    A page in the operator's browser may reach 127.0.0.1, and a DNS name
    that re-binds to 127.0.0.1 carries its own name in ``Host``: only
    loopback names may address the adapter, and a page from any other
    origin may not use it.
    """
    host = _host_name(request.headers.get("host", ""))
    if host and not is_loopback(host):
        raise HttpError(421, f"Host {host} is not this machine's loopback")
    origin = request.headers.get("origin", "")
    if origin and not is_loopback(_host_name(urlsplit(origin).netloc)):
        raise HttpError(403, f"Requests from the web origin {origin} are refused")


def _host_name(authority: str) -> str:
    """The host of ``host[:port]`` or ``[v6]:port``, without brackets."""
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def _json(request: Request) -> Any:
    """The decoded body; None when there is none."""
    if not request.body.strip():
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        raise HttpError(400, "The body is not valid JSON") from None


def _object_body(request: Request) -> dict[str, Any]:
    body = _json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "The body must be a JSON object")
    return body


def _text_field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"{name} must be a non-empty string")
    return value


def _tags_field(body: Mapping[str, Any]) -> list[str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise HttpError(400, "tags must be a list of strings")
    return tags


def _flag_field(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise HttpError(400, f"{name} must be a boolean value")
    return value


def _from_api_error(error: ApiError) -> HttpError:
    status = error.status
    if not status:
        status = 504 if isinstance(error, ApiTimeoutError) else 502
    headers = {}
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return HttpError(status, error.message, headers=headers)


def _scrubbed(answer: Answer) -> Answer:
    if answer.body is None:
        return answer
    return Answer(answer.status, scrub(answer.body), answer.headers)


def _error_answer(request: Request, error: HttpError) -> Answer:
    document = error_document(error.status, redact(error.message), request.full_path)
    return Answer(error.status, document, error.headers)


def _send(start_response: StartResponse, answer: Answer) -> Iterable[bytes]:
    if answer.body is None:
        response = Response(answer.status)
    else:
        response = json_response(answer.status, answer.body)
    response.headers.extend(answer.headers.items())
    return response.send(start_response)
