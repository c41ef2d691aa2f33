"""Typed records of what the runners API answers.

Each record is built with ``from_api`` from the decoded JSON and keeps that
JSON as ``raw`` so ``--json`` output shows the API's own fields. Parsing is
strict about the fields the agent relies on and lenient about the rest, so
a control plane that adds a field or a state does not break the agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runner_agent.credentials import Secret, mask
from runner_agent.errors import InvalidResponseError

RUNNER_STATES: tuple[str, ...] = (
    "initializing",
    "ready",
    "disabled",
    "decommissioned",
    "unresponsive",
)

_T = TypeVar("_T")


def _field(data: Mapping[str, Any], name: str, kind: type, required: bool) -> Any:
    """Read one field, checking its JSON type; absent or null gives None."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidResponseError(f"the answer lacks the field {name!r}")
        return None
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise InvalidResponseError(
        f"the field {name!r} is {type(value).__name__}, not {kind.__name__}"
    )


def _object(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise InvalidResponseError(f"expected a JSON object, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Runner:
    """A runner as ``GET /runners/{id}`` and the list describe it."""

    id: str
    name: str
    region: str
    state: str
    unschedulable: bool
    tags: tuple[str, ...] = ()
    domain: str | None = None
    api_url: str | None = None
    proxy_url: str | None = None
    sandbox_class: str | None = None
    cpu: float | None = None
    memory_gib: float | None = None
    disk_gib: float | None = None
    gpu: float | None = None
    gpu_type: str | None = None
    cpu_usage: float | None = None
    memory_usage: float | None = None
    disk_usage: float | None = None
    allocated_cpu: float | None = None
    allocated_memory_gib: float | None = None
    allocated_disk_gib: float | None = None
    snapshot_count: float | None = None
    started_sandboxes: float | None = None
    availability_score: float | None = None
    last_checked: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    app_version: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _fields_from(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        tags = _field(data, "tags", list, False) or []
        if not all(isinstance(tag, str) for tag in tags):
            raise InvalidResponseError("the field 'tags' is not a list of strings")
        number = {
            "cpu": "cpu",
            "memory_gib": "memory",
            "disk_gib": "disk",
            "gpu": "gpu",
            "cpu_usage": "currentCpuUsagePercentage",
            "memory_usage": "currentMemoryUsagePercentage",
            "disk_usage": "currentDiskUsagePercentage",
            "allocated_cpu": "currentAllocatedCpu",
            "allocated_memory_gib": "currentAllocatedMemoryGiB",
            "allocated_disk_gib": "currentAllocatedDiskGiB",
            "snapshot_count": "currentSnapshotCount",
            "started_sandboxes": "currentStartedSandboxes",
            "availability_score": "availabilityScore",
        }
        optional_text = {
            "domain": "domain",
            "api_url": "apiUrl",
            "proxy_url": "proxyUrl",
            "sandbox_class": "sandboxClass",
            "gpu_type": "gpuType",
            "last_checked": "lastChecked",
            "created_at": "createdAt",
            "updated_at": "updatedAt",
            "app_version": "appVersion",
        }
        return {
            "id": _field(data, "id", str, True),
            "name": _field(data, "name", str, True),
            "region": _field(data, "region", str, True),
            "state": _field(data, "state", str, True),
            "unschedulable": _field(data, "unschedulable", bool, True),
            "tags": tuple(tags),
            **{key: _field(data, name, float, False) for key, name in number.items()},
            **{
                key: _field(data, name, str, False)
                for key, name in optional_text.items()
            },
            "raw": dict(data),
        }

    @classmethod
    def from_api(cls, data: Any) -> Runner:
        return cls(**cls._fields_from(_object(data)))

    def to_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The API's own fields, ready for ``--json`` output; keys masked."""
        document = dict(self.raw)
        api_key = document.get("apiKey")
        if isinstance(api_key, str) and not show_secrets:
            document["apiKey"] = mask(api_key)
        return document


@dataclass(frozen=True)
class RunnerFull(Runner):
    """A runner with its key, as ``/runners/me`` and the proxy look-ups give."""

    api_key: Secret = field(default_factory=lambda: Secret(""))
    region_type: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> RunnerFull:
        mapping = _object(data)
        return cls(
            **cls._fields_from(mapping),
            api_key=Secret(_field(mapping, "apiKey", str, True)),
            region_type=_field(mapping, "regionType", str, False),
        )


@dataclass(frozen=True)
class CreatedRunner:
    """The answer to a create: the new id and the key, shown this once."""

    id: str
    api_key: Secret

    @classmethod
    def from_api(cls, data: Any) -> CreatedRunner:
        mapping = _object(data)
        return cls(
            id=_field(mapping, "id", str, True),
            api_key=Secret(_field(mapping, "apiKey", str, True)),
        )


@dataclass(frozen=True)
class RunnerSnapshot:
    """One runner holding a snapshot, from ``/runners/by-snapshot-ref``."""

    runner_snapshot_id: str
    runner_id: str
    runner_domain: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> RunnerSnapshot:
        mapping = _object(data)
        return cls(
            runner_snapshot_id=_field(mapping, "runnerSnapshotId", str, True),
            runner_id=_field(mapping, "runnerId", str, True),
            runner_domain=_field(mapping, "runnerDomain", str, False),
        )

    def to_json(self) -> dict[str, Any]:
        document = {
            "runnerSnapshotId": self.runner_snapshot_id,
            "runnerId": self.runner_id,
        }
        if self.runner_domain is not None:
            document["runnerDomain"] = self.runner_domain
        return document


def list_of(items: Any, kind: type[_T]) -> list[_T]:
    """Parse a JSON list whose items ``kind.from_api`` understands."""
    if not isinstance(items, list):
        raise InvalidResponseError(f"expected a JSON list, got {type(items).__name__}")
    return [kind.from_api(item) for item in items]  # type: ignore[attr-defined]
