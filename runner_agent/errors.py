"""Every error runner-agent raises, and the exit code each one maps to.

The tree::

    RunnerAgentError                  exit 1
    ├── UsageError                    exit 2   bad command-line use
    ├── ConfigError                   exit 78  bad or missing configuration
    │   └── MissingCredentialError             a key the operation needs is absent
    ├── StateError                    exit 1   the identity on disk is unusable
    │   ├── NotRegisteredError        exit 5   no identity where one is needed
    │   └── RunnerGoneError           exit 5   the identity's runner was deleted
    ├── RunnerRetiredError            exit 1   the runner is decommissioned (final)
    ├── CollectionError               exit 1   a host measurement failed
    └── ApiError                      exit 1   the control plane said no
        ├── TransportError            exit 3   no usable answer arrived
        │   ├── UnreachableError               connection refused, DNS, TLS
        │   └── ApiTimeoutError                no answer in time
        ├── UnauthorizedError         exit 4   401: the key is not accepted
        ├── ForbiddenError            exit 4   403: the key lacks the permission
        ├── NotFoundError             exit 5   404: no such runner or sandbox
        ├── NoSuchRouteError          exit 78  404: no such path (api_url is wrong)
        ├── ConflictError             exit 1   409
        ├── BadRequestError           exit 1   400 and other 4xx
        ├── RateLimitedError          exit 1   429, with its Retry-After
        ├── ServerError               exit 3   5xx: the control plane is unwell
        └── InvalidResponseError      exit 1   an answer that is not what the API
                                               promises

Library code raises these; only the command line turns them into exit codes
(see :data:`EXIT_CODES`).
"""

from __future__ import annotations

import copy
from typing import Final, Self

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3
EXIT_AUTH: Final = 4
EXIT_NOT_FOUND: Final = 5
EXIT_CONFIG: Final = 78


class RunnerAgentError(Exception):
    """Base of every error runner-agent raises on purpose."""

    exit_code: int = EXIT_FAILED


class UsageError(RunnerAgentError):
    """The command line was used in a way that cannot work."""

    exit_code = EXIT_USAGE


class ConfigError(RunnerAgentError):
    """A configuration value is invalid or missing.

    ``key`` is the dotted configuration key, ``origin`` where its value came
    from (a file path, an environment variable, a flag).
    """

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, *, key: str = "", origin: str = "") -> None:
        self.key = key
        self.origin = origin
        self.reason = message
        where = key
        if origin:
            where = f"{key} (from {origin})" if key else origin
        super().__init__(f"{where}: {message}" if where else message)


class MissingCredentialError(ConfigError):
    """An operation needs a key that no source provides."""


class StateError(RunnerAgentError):
    """The runner identity kept on disk cannot be read or written."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class NotRegisteredError(StateError):
    """This host has no runner identity yet."""

    exit_code = EXIT_NOT_FOUND


class RunnerGoneError(StateError):
    """The runner this host is registered as no longer exists."""

    exit_code = EXIT_NOT_FOUND


class RunnerRetiredError(RunnerAgentError):
    """The runner is decommissioned, which no change can undo."""


class CollectionError(RunnerAgentError):
    """A host measurement could not be taken."""

    def __init__(self, message: str, *, collector: str = "") -> None:
        self.collector = collector
        super().__init__(f"{collector}: {message}" if collector else message)


class ApiError(RunnerAgentError):
    """The control plane refused a request or answered unusably.

    ``status`` is the HTTP status (0 when no answer arrived), ``message`` the
    server's own message when it sent one, ``operation`` the API operation.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        operation: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.message = message
        self.status = status
        self.operation = operation
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"{self.status} " if self.status else ""
        prefix = f"{where}: {status}" if where else status
        return f"{prefix}{self.message}"

    def with_hint(self, text: str) -> Self:
        """A copy of this error whose message ends with ``; text``."""
        hinted = copy.copy(self)
        hinted.message = f"{self.message}; {text}"
        hinted.args = (hinted.message,)
        return hinted


class TransportError(ApiError):
    """No usable answer arrived from the control plane."""

    exit_code = EXIT_UNREACHABLE


class UnreachableError(TransportError):
    """The control plane could not be reached (connection, DNS or TLS)."""


class ApiTimeoutError(TransportError):
    """The control plane did not answer within the timeout."""


class UnauthorizedError(ApiError):
    """401: the key was not accepted."""

    exit_code = EXIT_AUTH


class ForbiddenError(ApiError):
    """403: the key is valid but lacks the permission for this operation."""

    exit_code = EXIT_AUTH


class NotFoundError(ApiError):
    """404: the runner, sandbox or path does not exist."""

    exit_code = EXIT_NOT_FOUND


class NoSuchRouteError(ApiError):
    """404 for the path itself: the base URL does not lead to the runners API.

    Not a :class:`NotFoundError`, so nothing mistakes a wrong ``api_url``
    for a deleted runner.
    """

    exit_code = EXIT_CONFIG


class ConflictError(ApiError):
    """409: the request conflicts with existing state (a taken name)."""


class BadRequestError(ApiError):
    """400 or another 4xx: the server refused the request as invalid."""


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` seconds to wait, if given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int = 429,
        operation: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(
            message, status=status, operation=operation, method=method, path=path
        )
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is None:
            return text
        return f"{text} (retry after {self.retry_after:.0f}s)"


class ServerError(ApiError):
    """5xx: the control plane failed to handle the request."""

    exit_code = EXIT_UNREACHABLE


class InvalidResponseError(ApiError):
    """The answer did not have the shape the API promises."""
