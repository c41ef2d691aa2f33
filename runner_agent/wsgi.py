"""Small WSGI plumbing shared by the emulator, the REST adapter and the
daemon's local endpoint.

A :class:`Request` is read once from the environ (body included), a
:class:`Response` turns into the WSGI answer, and an :class:`HttpError`
raised anywhere below a route becomes the control plane's error document::

    {"path": "/api/runners?x=1", "timestamp": "2025-01-01T00:00:00.000Z",
     "statusCode": 400, "error": "Bad Request", "message": "..."}
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from runner_agent.config.values import host_port

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HttpError",
    "Request",
    "Response",
    "error_document",
    "error_response",
    "iso_timestamp",
    "json_response",
    "read_body",
    "reason_phrase",
    "serving_url",
    "without_head_bodies",
]

JSON_TYPE = "application/json; charset=utf-8"

# The address a local client reaches a server bound to a wildcard on.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def iso_timestamp(seconds: float) -> str:
    """Format epoch ``seconds`` as ISO 8601 UTC with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status``; "Error" for an unknown one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class HttpError(Exception):
    """An answer other than success, raised from inside a route."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Request:
    """One HTTP request, read in full from a WSGI environ.

    ``params`` holds what a router matched in the path.
    """

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str = ""
    remote_port: int | None = None
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, Any], *, max_body: int | None = None
    ) -> Request:
        """Read the request line, headers and body from ``environ``.

        Raises HttpError: 400 for a Content-Length that is not a number or
        a body shorter than it, 413 for a body larger than ``max_body``
        bytes.
        """
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        port = str(environ.get("REMOTE_PORT") or "")
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))

        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path or "/",
            query_string=str(environ.get("QUERY_STRING", "")),
            headers=headers,
            body=read_body(environ, max_body),
            remote_addr=str(environ.get("REMOTE_ADDR", "")),
            remote_port=int(port) if port.isdigit() else None,
        )

    @property
    def full_path(self) -> str:
        """The path with its query string, as error documents show it."""
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string, parsed."""
        return parse_qs(self.query_string, keep_blank_values=True)

    def query_value(self, name: str) -> str | None:
        """The first value of ``name`` in the query string, if any."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON; 400 when it is not JSON."""
        if not self.body.strip():
            raise HttpError(400, "Request body is empty; a JSON object is expected")
        content_type = self.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise HttpError(
                400, f"Content-Type must be application/json, not {content_type!r}"
            )
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HttpError(400, f"Request body is not valid JSON: {error}") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 for any other JSON value."""
        document = self.json()
        if not isinstance(document, dict):
            raise HttpError(400, "Request body must be a JSON object")
        return document

    def json_or_none(self) -> Any:
        """The body as JSON when it is JSON, else ``None`` (for the log)."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


def read_body(environ: Mapping[str, Any], max_body: int | None = None) -> bytes:
    """The request's body, exactly its Content-Length long.

    Raises HttpError: 400 for a Content-Length that is not a number or a
    body shorter than it, 413 for one longer than ``max_body``; OSError
    when the connection fails while it is read.
    """
    length = str(environ.get("CONTENT_LENGTH") or "0")
    # isdigit alone takes "²", which int() refuses.
    if not (length.isascii() and length.isdigit()):
        raise HttpError(400, "Content-Length is not a number")
    size = int(length)
    if max_body is not None and size > max_body:
        raise HttpError(413, f"The body is larger than {max_body} bytes")
    stream = environ.get("wsgi.input")
    if stream is None or size == 0:
        return b""

    body = bytes(stream.read(size))
    if len(body) < size:
        raise HttpError(400, "The body is shorter than its Content-Length")
    return body


@dataclass
class Response:
    """A status, headers and a body ready to be sent."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def send(
        self, start_response: StartResponse, exc_info: Any = None
    ) -> Iterable[bytes]:
        """Hand this response to the WSGI server.

        ``exc_info`` is for an error answer replacing one that may have
        begun: WSGI then raises it again if the headers went out already.
        """
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        status = f"{self.status} {reason_phrase(self.status)}"
        if exc_info is None:
            start_response(status, headers)
        else:
            start_response(status, headers, exc_info)
        return [self.body]


def json_response(status: int, document: Any) -> Response:
    """A JSON answer."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", JSON_TYPE)])


def error_document(status: int, message: str, path: str) -> dict[str, Any]:
    """The control plane's error body."""
    return {
        "path": path,
        "timestamp": iso_timestamp(time.time()),
        "statusCode": status,
        "error": reason_phrase(status),
        "message": message,
    }


def error_response(error: HttpError, request: Request) -> Response:
    """The answer for ``error`` raised while handling ``request``."""
    response = json_response(
        error.status, error_document(error.status, error.message, request.full_path)
    )
    response.headers.extend(error.headers.items())

    return response


def serving_url(host: str, port: int) -> str:
    """The base URL that reaches a server listening on ``host:port`` from here."""
    return f"http://{host_port(_WILDCARDS.get(host, host), port)}"


def without_head_bodies(app: WSGIApplication) -> WSGIApplication:
    """Wrap ``app`` so that an answer to HEAD carries no body.

    WSGI servers send whatever body the application returns, even to HEAD;
    on a kept-alive connection the client would read those bytes as the
    start of its next answer.
    """

    def application(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return body
        # Run the body to its end (a lazy application answers while it is
        # iterated), then send none of it.
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []

    return application
