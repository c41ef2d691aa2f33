"""The runners API of the Daytona control plane, over one httpx client.

:class:`RunnersClient` offers the twelve operations of the API with typed
results. Each operation knows which role's key it needs and fails with
:class:`~runner_agent.errors.MissingCredentialError` before any request when
that key is absent. Every httpx error and every refusal of the server is
translated here, in :meth:`RunnersClient._request`, into the error tree of
:mod:`runner_agent.errors`; nothing above this module sees httpx.

One client is meant to live as long as the process: it holds the TLS
context (costly to build) and a keep-alive connection that outlasts the
healthcheck interval.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final, TypedDict
from urllib.parse import quote

import httpx
import structlog

from runner_agent import __version__, errors
from runner_agent.credentials import Credentials, Role, redact
from runner_agent.models import (
    CreatedRunner,
    Runner,
    RunnerFull,
    RunnerSnapshot,
    list_of,
)

log = structlog.get_logger(__name__)

USER_AGENT: Final = f"runner-agent/{__version__}"

_KEY_SOURCES: Final[dict[Role, str]] = {
    "organization": "set DAYTONA_API_KEY or api_key_file in the configuration",
    "runner": "register this host first (runner-agent register), "
    "or set DAYTONA_RUNNER_TOKEN",
    "proxy": "set DAYTONA_PROXY_API_KEY or proxy_api_key_file in the configuration",
}

# Where each role's key comes from, named when the control plane refuses it.
_KEY_ORIGINS: Final[dict[Role, str]] = {
    "organization": "DAYTONA_API_KEY or api_key_file",
    "runner": "the identity in the state directory or DAYTONA_RUNNER_TOKEN",
    "proxy": "DAYTONA_PROXY_API_KEY or proxy_api_key_file",
}

# The organization key's permission each of its operations needs.
_PERMISSIONS: Final = {
    "create runner": "write runners",
    "list runners": "read runners",
    "runner by id": "read runners",
    "delete runner": "delete runners",
    "scheduling": "write runners",
    "draining": "write runners",
}

# The paths a daemon asks for on every beat and every watch.
_FIXED_PATHS: Final = frozenset({"/runners/healthcheck", "/runners/me"})

_STATUS_ERRORS: Final[dict[int, type[errors.ApiError]]] = {
    400: errors.BadRequestError,
    401: errors.UnauthorizedError,
    403: errors.ForbiddenError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
}


class _Where(TypedDict):
    """Which request an error belongs to."""

    operation: str
    method: str
    path: str


class _IgnoredCookies(httpx.Cookies):
    """A cookie jar that keeps nothing it is sent."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.Client):
    """An httpx client that neither keeps nor sends cookies.

    The API authenticates every request by its bearer key and has no use
    for cookies, yet httpx runs every answer through the standard library's
    cookie parser, about a tenth of a healthcheck's CPU time.
    """

    _jar: Final = _IgnoredCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None


class RunnersClient:
    """The Daytona runners API, with a key per role."""

    def __init__(
        self,
        api_url: str,
        credentials: Credentials,
        *,
        organization_id: str = "",
        timeout: float = 10.0,
        ca_bundle: str = "",
        keepalive_expiry: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credentials = credentials
        self.organization_id = organization_id
        self._date_header = ""
        self._urls: dict[str, httpx.URL] = {}
        self._http = _CookielessClient(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout),
            verify=_tls_context(ca_bundle),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            limits=httpx.Limits(
                max_connections=4,
                max_keepalive_connections=2,
                keepalive_expiry=keepalive_expiry,
            ),
            transport=transport,
        )

    @property
    def server_date(self) -> datetime | None:
        """The ``Date`` of the control plane's latest answer, if it gave one."""
        if not self._date_header:
            return None
        try:
            return email.utils.parsedate_to_datetime(self._date_header)
        except (TypeError, ValueError):
            return None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RunnersClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The twelve operations, in the order of the API's table.

    def create_runner(
        self,
        *,
        region_id: str,
        name: str,
        tags: list[str] | None = None,
        sandbox_class: str | None = None,
    ) -> CreatedRunner:
        body: dict[str, Any] = {"regionId": region_id, "name": name}
        if tags is not None:
            body["tags"] = list(tags)
        if sandbox_class:
            body["sandboxClass"] = sandbox_class
        data = self._request("create runner", "organization", "POST", "/runners", body)
        return CreatedRunner.from_api(data)

    def list_runners(self, region_id: str | None = None) -> list[Runner]:
        params = {"regionId": region_id} if region_id else None
        data = self._request(
            "list runners", "organization", "GET", "/runners", params=params
        )
        return list_of(data, Runner)

    def get_me(self) -> RunnerFull:
        data = self._request("this runner", "runner", "GET", "/runners/me")
        return RunnerFull.from_api(data)

    def get_by_sandbox(self, sandbox_id: str) -> RunnerFull:
        path = f"/runners/by-sandbox/{_segment(sandbox_id)}"
        data = self._request("runner of a sandbox", "proxy", "GET", path)
        return RunnerFull.from_api(data)

    def get_by_snapshot_ref(self, ref: str) -> list[RunnerSnapshot]:
        data = self._request(
            "runners holding a snapshot",
            "proxy",
            "GET",
            "/runners/by-snapshot-ref",
            params={"ref": ref},
        )
        return list_of(data, RunnerSnapshot)

    def get_runner(self, runner_id: str) -> Runner:
        path = f"/runners/{_segment(runner_id)}"
        data = self._request("runner by id", "organization", "GET", path)
        return Runner.from_api(data)

    def get_runner_full(self, runner_id: str) -> RunnerFull:
        path = f"/runners/{_segment(runner_id)}/full"
        data = self._request("runner by id, full", "proxy", "GET", path)
        return RunnerFull.from_api(data)

    def delete_runner(self, runner_id: str) -> None:
        path = f"/runners/{_segment(runner_id)}"
        self._request("delete runner", "organization", "DELETE", path)

    def set_scheduling(self, runner_id: str, *, unschedulable: bool) -> Runner:
        path = f"/runners/{_segment(runner_id)}/scheduling"
        body = {"unschedulable": unschedulable}
        data = self._request("scheduling", "organization", "PATCH", path, body)
        return Runner.from_api(data)

    def set_draining(self, runner_id: str, *, draining: bool) -> Runner:
        path = f"/runners/{_segment(runner_id)}/draining"
        body = {"draining": draining}
        data = self._request("draining", "organization", "PATCH", path, body)
        return Runner.from_api(data)

    def send_healthcheck(
        self, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> None:
        """Send a healthcheck; ``timeout`` replaces the client's for this one."""
        self._request(
            "healthcheck",
            "runner",
            "POST",
            "/runners/healthcheck",
            body,
            timeout=timeout,
        )

    def get_my_snapshots(self) -> list[str]:
        data = self._request(
            "snapshots of this runner", "runner", "GET", "/runners/me/snapshots"
        )
        if not isinstance(data, list) or not all(isinstance(i, str) for i in data):
            raise errors.InvalidResponseError("expected a JSON list of snapshot refs")
        return data

    # The one boundary where httpx and HTTP statuses become our errors.

    def _request(
        self,
        operation: str,
        role: Role,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        headers = self._auth_headers(role, operation)
        context = _Where(operation=operation, method=method, path=path)
        started = time.monotonic()
        try:
            response = self._http.request(
                method,
                self._url(path),
                json=body,
                params=params,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.TimeoutException as error:
            raise errors.ApiTimeoutError(
                f"no answer within the timeout ({type(error).__name__})", **context
            ) from error
        except httpx.TransportError as error:
            raise errors.UnreachableError(
                _transport_reason(error), **context
            ) from error

        self._date_header = response.headers.get("Date", "")
        log.debug(
            "api_request",
            operation=operation,
            method=method,
            path=path,
            status=response.status_code,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        )
        if response.is_success:
            return _decode(response, context)
        raise _status_error(response, context, role)

    def _auth_headers(self, role: Role, operation: str) -> dict[str, str]:
        key = self.credentials.for_role(role)
        if not key:
            raise errors.MissingCredentialError(
                f"{operation} needs the {role} key: {_KEY_SOURCES[role]}"
            )
        headers = {"Authorization": f"Bearer {key.reveal()}"}
        if role == "organization" and self.organization_id:
            headers["X-Daytona-Organization-ID"] = self.organization_id
        return headers

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``, parsed once for the fixed paths.

        httpx parses a relative path against the base URL on every request;
        the healthcheck's and the state watch's never change, so theirs are
        kept (paths holding an id are not, so the cache stays small).
        """
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.api_url + path)
            if path in _FIXED_PATHS:
                self._urls[path] = url
        return url


def _tls_context(ca_bundle: str) -> ssl.SSLContext | bool:
    """Verification is always on; a CA bundle replaces the default roots."""
    if not ca_bundle:
        return True
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as error:
        raise errors.ConfigError(
            f"cannot load the CA bundle {ca_bundle}: {error}", key="ca_bundle"
        ) from None


def _segment(value: str) -> str:
    """Quote a path parameter so it can never change the path.

    ``.`` and ``..`` are path steps to every URL parser on the way, so their
    dots are escaped too; an empty value would address the parent path.
    """
    if not value:
        raise errors.UsageError("an id or path value must not be empty")
    quoted = quote(value, safe="")
    if set(value) == {"."}:
        return quoted.replace(".", "%2E")
    return quoted


def _transport_reason(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.LocalProtocolError):
        # Its text quotes the offending header, which may be a key.
        return "the request could not be sent as HTTP (a header value is invalid)"
    reason = str(error) or type(error).__name__
    if "CERTIFICATE_VERIFY_FAILED" in reason or isinstance(
        error.__cause__, ssl.SSLError
    ):
        return f"TLS verification failed: {reason} (see the ca_bundle setting)"
    return f"cannot reach the control plane: {reason}"


def _decode(response: httpx.Response, context: _Where) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise errors.InvalidResponseError(
            f"the answer is not JSON: {_snippet(response.text)}", **context
        ) from None


def _status_error(
    response: httpx.Response, context: _Where, role: Role
) -> errors.ApiError:
    status = response.status_code
    message = _server_message(response)
    if status in (401, 403):
        message = f"{message}: {_refusal(role, status, context['operation'])}"
    if status == 429:
        return errors.RateLimitedError(
            message,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            **context,
        )
    if status >= 500:
        return errors.ServerError(message, status=status, **context)
    if status == 404 and _route_missing(response, message):
        return errors.NoSuchRouteError(
            f"{message}: the control plane has no such path; check api_url "
            "(Daytona's ends in /api)",
            status=status,
            **context,
        )
    kind = _STATUS_ERRORS.get(status, errors.BadRequestError)
    return kind(message, status=status, **context)


def _refusal(role: Role, status: int, operation: str) -> str:
    """Which key was refused, and where that key comes from."""
    where = f"check {_KEY_ORIGINS[role]}"
    if status == 401:
        return f"the {role} key was refused; {where}"
    needed = _PERMISSIONS.get(operation)
    lacks = f"the permission to {needed}" if needed else f"the right to {operation}"
    return f"the {role} key lacks {lacks}; {where}"


def _route_missing(response: httpx.Response, message: str) -> bool:
    """Whether a 404 is about the path rather than a runner or sandbox.

    The control plane answers an unknown path with its error document and
    ``Cannot <METHOD> <path>``; a server that is not the control plane at
    all answers without that document.
    """
    try:
        document = response.json()
    except ValueError:
        return True
    if not isinstance(document, dict) or "statusCode" not in document:
        return True
    return message.startswith(f"Cannot {response.request.method} ")


def _server_message(response: httpx.Response) -> str:
    """The server's own message from its JSON error body, or a snippet."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = document.get("message")
        if isinstance(message, list):
            message = "; ".join(str(item) for item in message)
        if isinstance(message, str) and message:
            return redact(message)
    return redact(_snippet(response.text)) or response.reason_phrase


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}…"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())
