"""What every tool shares: argument types, annotations, errors and masking.

A tool is a method of a :class:`ToolSet` listed in a :class:`ToolSpec`.
Its typed parameters become the tool's input schema, its ``dict`` result
the structured result. Keys come from the configuration, never from
arguments. Every error the agent raises on purpose becomes a tool error
(an ``isError`` result carrying the server's message) through
:meth:`ToolSet.refusals`; the SDK turns anything else into a generic tool
error, so no call can bring the server down.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from runner_agent.client import RunnersClient
from runner_agent.config import Config
from runner_agent.context import AgentContext
from runner_agent.credentials import redact, scrub
from runner_agent.errors import (
    ApiError,
    ForbiddenError,
    RunnerAgentError,
    UnauthorizedError,
)
from runner_agent.state import Identity
from runner_agent.wsgi import reason_phrase

RunnerId = Annotated[
    str,
    Field(
        description="The runner's id (a UUID, as the list or a look-up gives it).",
        min_length=1,
        max_length=255,
    ),
]
RegionId = Annotated[
    str, Field(description="The region's id.", min_length=1, max_length=255)
]
RunnerName = Annotated[
    str,
    Field(
        description="The runner's name, unique in its region.",
        pattern=r"^[a-zA-Z0-9_.-]+$",
        min_length=2,
        max_length=255,
    ),
]
Tags = Annotated[
    list[str] | None, Field(description="Tags to give the runner.", max_length=64)
]
SandboxClass = Annotated[
    Literal["container", "linux-vm", "windows"] | None,
    Field(description="The class of sandboxes the runner runs (default container)."),
]
SandboxId = Annotated[
    str, Field(description="The sandbox's id.", min_length=1, max_length=255)
]
SnapshotRef = Annotated[
    str,
    Field(
        description="The snapshot reference (image name or ref).",
        min_length=1,
        max_length=1024,
    ),
]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, the method behind it and its behaviour hints."""

    name: str
    method: str
    title: str
    read_only: bool
    destructive: bool
    idempotent: bool

    def annotations(self) -> ToolAnnotations:
        # Every tool talks to one known control plane or to this host only:
        # a closed world.
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=False,
        )


def reader(name: str, method: str, title: str) -> ToolSpec:
    """A tool that changes nothing (so repeating it changes nothing either)."""
    return ToolSpec(name, method, title, True, False, True)


def writer(
    name: str, method: str, title: str, *, destructive: bool, idempotent: bool
) -> ToolSpec:
    """A tool that changes something, destructively or not."""
    return ToolSpec(name, method, title, False, destructive, idempotent)


class ToolSet:
    """The configuration, client and state the tools of one server share.

    Tools run on worker threads, possibly several at once; finding this
    host's identity (which may ask the control plane) is serialised.
    """

    def __init__(self, context: AgentContext, *, show_secrets: bool = False) -> None:
        self.context = context
        self.show_secrets = show_secrets
        self._identity_lock = threading.Lock()
        self._identity: Identity | None = None

    @property
    def config(self) -> Config:
        return self.context.config

    @property
    def client(self) -> RunnersClient:
        return self.context.client

    def identity(self) -> Identity:
        """This host's runner; the client then carries its key."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = self.context.identity()
            return self._identity

    def result(self, document: dict[str, Any]) -> dict[str, Any]:
        """A tool result, every known key masked unless asked otherwise."""
        if self.show_secrets:
            return document
        scrubbed: dict[str, Any] = scrub(document)
        return scrubbed

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """Turn the agent's errors into tool errors carrying their message."""
        try:
            yield
        except RunnerAgentError as error:
            raise ToolError(describe(error)) from error


def describe(error: RunnerAgentError) -> str:
    """One line for the model: what failed and what the server said."""
    if isinstance(error, ApiError):
        operation = error.operation or "the request"
        if error.status:
            phrase = reason_phrase(error.status)
            text = f"{operation}: the control plane answered {error.status} "
            text += f"{phrase}: {error.message}"
        else:
            text = f"{operation}: {error.message}"
    else:
        text = str(error)
    if isinstance(error, UnauthorizedError | ForbiddenError):
        # Repeated refusals get the organisation's key rate-limited.
        text += " (retrying will not help: ask the operator to fix the key)"
    return redact(text)
