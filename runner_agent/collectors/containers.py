"""What the containers are allowed, inspected once each and kept by id.

Listing the containers gives their ids and states but not their limits;
only inspecting each one does. Limits are set when a container is created,
so :class:`ContainerLimits` inspects a container when its id is new, and
again when its state changed since (a sandbox stopped, resized and started
is seen then), and forgets the ids that left the listing. On a steady host
a refresh therefore costs one listing and no inspection. A ``docker
update`` of a running container is seen at its next stop or start.

A scan that runs out of time keeps what it inspected, so the next refresh
carries on where it stopped instead of starting over.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner_agent.collectors.host import GIB
from runner_agent.errors import CollectionError
from runner_agent.reasons import short_reason

_DEFAULT_CPU_PERIOD = 100_000
_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}

# Inspects one container by id: its JSON, or None when it is gone.
Inspect = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class Allocation:
    """What the counted containers hold."""

    cpu: float = 0.0
    memory_gib: float = 0.0
    disk_gib: float = 0.0
    started: int = 0
    containers: int = 0
    vanished: int = 0


@dataclass(frozen=True)
class Limits:
    """One container's limits, and the state it was in when inspected."""

    cpus: float
    memory: int
    disk_gib: float
    state: str


def storage_size_bytes(text: str) -> int:
    """A ``StorageOpt`` size such as ``"10G"``, ``"512m"`` or bytes (binary)."""
    match = _SIZE.match(text.strip())
    if match is None:
        return 0
    unit = _UNITS[(match.group(2) or "").lower()]
    return int(float(match.group(1)) * 1024**unit)


def container_limits(host_config: dict[str, Any]) -> tuple[float, int, float]:
    """CPUs, memory bytes and disk GiB one container is allowed."""
    quota = host_config.get("CpuQuota") or 0
    period = host_config.get("CpuPeriod") or _DEFAULT_CPU_PERIOD
    nano = host_config.get("NanoCpus") or 0
    cpus = quota / period if quota > 0 else nano / 1e9 if nano > 0 else 0.0
    memory = max(int(host_config.get("Memory") or 0), 0)
    storage = host_config.get("StorageOpt") or {}
    disk = storage_size_bytes(str(storage.get("size", ""))) / GIB
    return cpus, memory, disk


class ContainerLimits:
    """The limits of the containers listed, by container id."""

    def __init__(self) -> None:
        self._known: dict[str, Limits] = {}

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        self._known.clear()

    def allocation(self, listing: list[Any], inspect: Inspect) -> Allocation:
        """Sum the listed containers, inspecting those not known yet.

        Raises :class:`CollectionError` when an inspection fails (out of
        time, most often); what was inspected before it is kept.
        """
        states = {str(entry["Id"]): str(entry.get("State") or "") for entry in listing}
        for gone in self._known.keys() - states.keys():
            del self._known[gone]
        due = [cid for cid, state in states.items() if self._due(cid, state)]
        vanished = 0
        for done, container_id in enumerate(due):
            try:
                inspected = inspect(container_id)
            except CollectionError as error:
                raise CollectionError(
                    f"{short_reason(error)} ({done} of {len(due)} containers "
                    "inspected; "
                    "the rest follow on the next refresh)",
                    collector="docker",
                ) from error
            if inspected is None:
                vanished += 1
                continue
            limits = container_limits(inspected.get("HostConfig") or {})
            self._known[container_id] = Limits(*limits, state=states[container_id])
        return self._sum(states, vanished)

    def _due(self, container_id: str, state: str) -> bool:
        known = self._known.get(container_id)
        return known is None or known.state != state

    def _sum(self, states: dict[str, str], vanished: int) -> Allocation:
        cpu, memory, disk, started = 0.0, 0, 0.0, 0
        for container_id, state in states.items():
            limits = self._known.get(container_id)
            if limits is None:
                continue
            disk += limits.disk_gib
            if state == "running":
                cpu, memory = cpu + limits.cpus, memory + limits.memory
                started += 1
        return Allocation(
            cpu=cpu,
            memory_gib=memory / GIB,
            disk_gib=disk,
            started=started,
            containers=len(states) - vanished,
            vanished=vanished,
        )
