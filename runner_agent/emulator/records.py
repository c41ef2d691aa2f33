"""What the emulator remembers, and how the API shows it.

Records are plain mutable dataclasses owned by the store and only touched
under its lock. The ``*_view`` functions render them in the API's shapes
(``Runner``, ``RunnerFull``, ``RunnerSnapshotDto``) with exactly the fields
the generated client knows, so its strict models parse every answer without
leftovers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from runner_agent.wsgi import iso_timestamp

__all__ = [
    "DEAD_SANDBOX_STATES",
    "Principal",
    "RunnerRecord",
    "SandboxRecord",
    "SnapshotRecord",
    "keys_dump",
    "runner_dump",
    "runner_full_view",
    "runner_view",
    "snapshot_view",
]

Role = Literal["organization", "runner", "proxy"]
Permission = Literal["read", "write", "delete"]
ALL_PERMISSIONS: Final[frozenset[str]] = frozenset({"read", "write", "delete"})
DEAD_SANDBOX_STATES: Final = frozenset({"destroyed", "archived"})

# Healthcheck metric -> Runner field it is copied to.
CURRENT_METRICS: Final = (
    "currentCpuUsagePercentage",
    "currentMemoryUsagePercentage",
    "currentDiskUsagePercentage",
    "currentAllocatedCpu",
    "currentAllocatedMemoryGiB",
    "currentAllocatedDiskGiB",
    "currentSnapshotCount",
    "currentStartedSandboxes",
)


@dataclass(frozen=True)
class Principal:
    """Who a key belongs to: a role, its permissions, its runner if any."""

    role: Role
    permissions: frozenset[str] = ALL_PERMISSIONS
    runner_id: str | None = None


@dataclass
class SandboxRecord:
    """A sandbox placed on a runner through the control surface."""

    id: str
    runner_id: str
    state: str

    @property
    def live(self) -> bool:
        """Whether it still holds the runner (not destroyed nor archived)."""
        return self.state not in DEAD_SANDBOX_STATES

    def to_json(self) -> dict[str, Any]:
        """The control surface's view."""
        return {"id": self.id, "runnerId": self.runner_id, "state": self.state}


@dataclass
class SnapshotRecord:
    """A snapshot reference held by a runner."""

    id: str
    runner_id: str
    ref: str

    def to_json(self) -> dict[str, Any]:
        """The control surface's view."""
        return {
            "runnerSnapshotId": self.id,
            "runnerId": self.runner_id,
            "ref": self.ref,
        }


@dataclass
class RunnerRecord:
    """One runner and everything the control plane knows about it."""

    id: str
    name: str
    region_id: str
    api_key: str
    sandbox_class: str
    tags: list[str]
    created_at: float
    updated_at: float
    state: str = "initializing"
    unschedulable: bool = False
    draining: bool = False
    idle_checks: int = 0
    last_checked: float | None = None
    domain: str | None = None
    api_url: str | None = None
    proxy_url: str | None = None
    app_version: str | None = None
    cpu: float = 0
    memory: float = 0
    disk: float = 0
    gpu: float = 0
    gpu_type: str | None = None
    current: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(CURRENT_METRICS, 0)
    )
    cpu_load_average: float = 0
    availability_score: float = 0
    healthcheck_count: int = 0
    last_healthcheck: dict[str, Any] | None = None


def runner_view(runner: RunnerRecord) -> dict[str, Any]:
    """``runner`` in the shape of the API's ``Runner``."""
    last_checked = runner.last_checked
    return {
        "id": runner.id,
        "domain": runner.domain,
        "apiUrl": runner.api_url,
        "proxyUrl": runner.proxy_url,
        "cpu": runner.cpu,
        "memory": runner.memory,
        "disk": runner.disk,
        "gpu": runner.gpu,
        "gpuType": runner.gpu_type,
        "sandboxClass": runner.sandbox_class,
        **runner.current,
        "availabilityScore": runner.availability_score,
        "region": runner.region_id,
        "name": runner.name,
        "state": runner.state,
        "lastChecked": None if last_checked is None else iso_timestamp(last_checked),
        "unschedulable": runner.unschedulable,
        "tags": list(runner.tags),
        "createdAt": iso_timestamp(runner.created_at),
        "updatedAt": iso_timestamp(runner.updated_at),
        "version": "0",
        "apiVersion": "0",
        "runnerClass": "container",
        "appVersion": runner.app_version,
    }


def runner_full_view(runner: RunnerRecord) -> dict[str, Any]:
    """``runner`` in the shape of the API's ``RunnerFull``."""
    return {**runner_view(runner), "apiKey": runner.api_key, "regionType": "custom"}


def snapshot_view(snapshot: SnapshotRecord, runner: RunnerRecord) -> dict[str, Any]:
    """``snapshot`` in the shape of the API's ``RunnerSnapshotDto``."""
    document = {"runnerSnapshotId": snapshot.id, "runnerId": snapshot.runner_id}
    if runner.domain:
        document["runnerDomain"] = runner.domain

    return document


def runner_dump(
    runner: RunnerRecord,
    sandboxes: Iterable[SandboxRecord],
    snapshots: Iterable[SnapshotRecord],
) -> dict[str, Any]:
    """``runner`` as the control surface shows it: all the API hides too."""
    return {
        **runner_full_view(runner),
        "draining": runner.draining,
        "idleChecks": runner.idle_checks,
        "currentCpuLoadAverage": runner.cpu_load_average,
        "healthcheckCount": runner.healthcheck_count,
        "lastHealthcheck": runner.last_healthcheck,
        "sandboxes": [s.to_json() for s in sandboxes if s.runner_id == runner.id],
        "snapshots": [s.to_json() for s in snapshots if s.runner_id == runner.id],
    }


def keys_dump(keys: dict[str, Principal]) -> dict[str, list[dict[str, Any]]]:
    """Every key by role, with its permissions or its runner."""
    dumped: dict[str, list[dict[str, Any]]] = {
        "organization": [],
        "proxy": [],
        "runner": [],
    }
    for key, principal in keys.items():
        entry: dict[str, Any] = {"key": key}
        if principal.role == "organization":
            entry["permissions"] = sorted(principal.permissions)
        if principal.runner_id is not None:
            entry["runnerId"] = principal.runner_id
        dumped[principal.role].append(entry)

    return dumped
