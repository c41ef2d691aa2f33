"""A minimal Docker Engine API client over the daemon's unix socket.

Only the few read-only calls the collector needs, on one long-lived httpx
client. Every httpx error becomes a :class:`~runner_agent.errors.CollectionError`
here with a short, operator-readable reason; nothing above sees httpx.
"""

from __future__ import annotations

from typing import Any

import httpx

from runner_agent.errors import CollectionError
from runner_agent.reasons import os_reason

# The host part is ignored on a unix socket; unversioned paths get the
# daemon's own API version.
_BASE_URL = "http://docker"


class DockerEngine:
    """Read-only calls to one Docker daemon."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        self._timeout = timeout
        self._client = httpx.Client(
            # No TLS on a unix socket: without verify=False httpx would load
            # the CA bundle anyway (about 1 MB and 20 ms for nothing).
            transport=httpx.HTTPTransport(uds=socket_path, verify=False),
            base_url=_BASE_URL,
            timeout=timeout,
        )

    def ping(self, timeout: float) -> None:
        response = self._get("/_ping", None, timeout)
        if response.text.strip() != "OK":
            raise CollectionError(
                f"/_ping answered {response.text[:40]!r}", collector="docker"
            )

    def get_json(
        self, path: str, params: dict[str, str] | None = None, *, timeout: float
    ) -> Any:
        response = self._get(path, params, timeout)
        try:
            return response.json()
        except ValueError:
            raise CollectionError(
                f"{path} answered something that is not JSON", collector="docker"
            ) from None

    def close(self) -> None:
        self._client.close()

    def _get(
        self, path: str, params: dict[str, str] | None, timeout: float
    ) -> httpx.Response:
        try:
            response = self._client.get(path, params=params, timeout=timeout)
        except httpx.TimeoutException:
            # A call late in a refresh gets only what is left of the budget;
            # the operator knows the budget (docker.timeout), not the rest.
            raise CollectionError(
                f"Docker did not answer within {self._timeout:g}s", collector="docker"
            ) from None
        except httpx.TransportError as error:
            raise CollectionError(
                f"cannot reach Docker: {os_reason(error)}", collector="docker"
            ) from error
        if response.status_code == 404:
            raise NotFound(path)
        if response.status_code >= 400:
            raise CollectionError(
                f"{path} answered HTTP {response.status_code}", collector="docker"
            )
        return response


class NotFound(CollectionError):
    """The object asked for is gone (a container removed mid-refresh)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} not found", collector="docker")
