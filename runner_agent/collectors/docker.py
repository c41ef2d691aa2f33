"""Sandboxes, their allocations and the snapshots held, from the Docker Engine.

Figured as Daytona's runner figures them (``apps/runner/internal/metrics/
collector.go``): every container counts unless a label filter narrows them;

* started sandboxes: the running containers;
* allocated CPU: the running containers' CPU quota over its period (Daytona
  divides by 100000, the period it always sets; a container started with
  ``--cpus`` counts its ``NanoCpus`` here too);
* allocated memory: the running containers' memory limits, in GiB;
* allocated disk: the ``StorageOpt`` size of every container, running or
  stopped, in GiB;
* snapshots: the image count of ``/info``.

A refresh is one job with its own deadline; a healthcheck only reads the
cached :class:`DockerSnapshot`, so a hung daemon never delays one.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from runner_agent.collectors.dockerapi import DockerEngine, NotFound
from runner_agent.collectors.host import GIB
from runner_agent.collectors.probe import Probe
from runner_agent.config import DockerConfig
from runner_agent.errors import CollectionError
from runner_agent.reasons import short_reason

log = structlog.get_logger(__name__)

State = Literal["unknown", "ok", "absent", "forbidden", "unreachable"]
SERVICE = "docker"
# Cached figures older than this many refresh intervals are flagged stale.
STALE_AFTER_REFRESHES = 3
_DEFAULT_CPU_PERIOD = 100_000
_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


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
class DockerSnapshot:
    """The last figures read from Docker, and how Docker fared since."""

    state: State = "unknown"
    allocation: Allocation = field(default_factory=Allocation)
    images: int = 0
    root_dir: str = ""
    error: str = ""
    refreshed_at: float | None = None


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


class DockerCollector:
    """Refreshes the Docker figures in the background and caches them."""

    def __init__(self, config: DockerConfig) -> None:
        self.config = config
        self.snapshot = DockerSnapshot()
        self.probe: Probe[None] = Probe(SERVICE, None)
        self._engine: DockerEngine | None = None
        self._pending: DockerConfig | None = None
        self._seen = False
        self._noted: set[str] = set()
        self._closed = False

    def refresh(self) -> None:
        """One refresh (the periodic job); never raises."""
        if self._closed:
            return
        self._apply_pending()
        started = time.perf_counter_ns()
        availability = self._availability()
        if availability != "ok":
            self._unavailable(availability, started)
            return
        try:
            snapshot = self._read(self._engine_now())
        except (CollectionError, LookupError, TypeError, ValueError) as error:
            # The last three: an answer without the fields the Engine API has.
            self.snapshot = replace(
                self.snapshot, state="unreachable", error=short_reason(error)
            )
            self.probe.failed(started, error)
            return
        self.snapshot = snapshot
        self._seen = True
        self._noted.clear()
        self.probe.succeeded(started)

    def service(self) -> dict[str, Any] | None:
        """The ``docker`` entry of serviceHealth, or None when not reported."""
        snapshot = self.snapshot
        if snapshot.state == "ok":
            return {"serviceName": SERVICE, "healthy": True}
        reported = snapshot.state == "unreachable" or (
            snapshot.state in ("absent", "forbidden") and self.config.required
        )
        if not reported:
            return None
        return {"serviceName": SERVICE, "healthy": False, "errorReason": snapshot.error}

    def report(self, now: float) -> dict[str, Any]:
        snapshot = self.snapshot
        age = None if snapshot.refreshed_at is None else now - snapshot.refreshed_at
        return {
            "state": snapshot.state,
            "socket": self.config.socket,
            "required": self.config.required,
            "sandboxLabel": self.config.sandbox_label or None,
            "images": snapshot.images,
            "containers": snapshot.allocation.containers,
            "startedSandboxes": snapshot.allocation.started,
            "vanishedDuringRefresh": snapshot.allocation.vanished,
            "rootDir": snapshot.root_dir or None,
            "ageSeconds": None if age is None else round(age, 1),
            "stale": self.stale(now),
            "error": snapshot.error or None,
        }

    def stale(self, now: float) -> bool:
        snapshot = self.snapshot
        if snapshot.state == "unreachable":
            return True
        limit = STALE_AFTER_REFRESHES * self.config.refresh_interval
        return snapshot.refreshed_at is not None and now - snapshot.refreshed_at > limit

    def reconfigure(self, config: DockerConfig) -> None:
        # Applied by the next refresh, on the refresh's own thread, so that a
        # request in flight never loses its client.
        self._pending = config

    def close(self) -> None:
        self._closed = True
        if self._engine is not None:
            self._engine.close()

    def _apply_pending(self) -> None:
        config, self._pending = self._pending, None
        if config is None:
            return
        if (config.socket, config.timeout) != (self.config.socket, self.config.timeout):
            if self._engine is not None:
                self._engine.close()
            self._engine = None
        if config.socket != self.config.socket:
            self._seen = False
            self.snapshot = DockerSnapshot()
        self.config = config

    def _engine_now(self) -> DockerEngine:
        if self._engine is None:
            self._engine = DockerEngine(self.config.socket, self.config.timeout)
        return self._engine

    def _availability(self) -> State:
        path = self.config.socket
        if not os.path.exists(path):
            return "absent"
        if not os.access(path, os.R_OK | os.W_OK):
            return "forbidden"
        return "ok"

    def _unavailable(self, state: State, started: int) -> None:
        path = self.config.socket
        if state == "absent" and self._seen:
            error = f"the Docker socket {path} is gone"
            self.snapshot = replace(self.snapshot, state="unreachable", error=error)
            self.probe.failed(started, error)
            return
        if state == "absent":
            error = f"no Docker socket at {path}"
        else:
            error = f"permission denied on {path}"
        self.snapshot = DockerSnapshot(state=state, error=error)
        self._note(state, error)
        if self.config.required:
            self.probe.failed(started, error)
        else:
            self.probe.succeeded(started)

    def _note(self, state: State, error: str) -> None:
        if state in self._noted:
            return
        self._noted.add(state)
        hint = (
            "add the agent's user to the docker group"
            if state == "forbidden"
            else "no Docker figures are reported"
        )
        if self.config.required or state == "forbidden":
            log.warning("docker_unavailable", detail=error, hint=hint)
        else:
            log.info("docker_unavailable", detail=error, hint=hint)

    def _read(self, engine: DockerEngine) -> DockerSnapshot:
        deadline = time.monotonic() + self.config.timeout
        engine.ping(self._remaining(deadline))
        info = engine.get_json("/info", timeout=self._remaining(deadline))
        listing = engine.get_json(
            "/containers/json", self._list_params(), timeout=self._remaining(deadline)
        )
        if not isinstance(info, dict) or not isinstance(listing, list):
            raise CollectionError("unexpected answer shape", collector=SERVICE)
        return DockerSnapshot(
            state="ok",
            allocation=self._allocation(engine, listing, deadline),
            images=int(info.get("Images") or 0),
            root_dir=str(info.get("DockerRootDir") or ""),
            refreshed_at=time.monotonic(),
        )

    def _list_params(self) -> dict[str, str]:
        params = {"all": "1"}
        if self.config.sandbox_label:
            params["filters"] = json.dumps({"label": [self.config.sandbox_label]})
        return params

    def _allocation(
        self, engine: DockerEngine, listing: list[Any], deadline: float
    ) -> Allocation:
        cpu, memory, disk = 0.0, 0, 0.0
        started = vanished = 0
        for entry in listing:
            path = f"/containers/{entry['Id']}/json"
            try:
                inspected = engine.get_json(path, timeout=self._remaining(deadline))
            except NotFound:
                vanished += 1
                continue
            cpus, memory_bytes, disk_gib = container_limits(
                inspected.get("HostConfig") or {}
            )
            disk += disk_gib
            if entry.get("State") == "running":
                cpu, memory, started = cpu + cpus, memory + memory_bytes, started + 1
        return Allocation(
            cpu=cpu,
            memory_gib=memory / GIB,
            disk_gib=disk,
            started=started,
            containers=len(listing) - vanished,
            vanished=vanished,
        )

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CollectionError(
                f"the refresh took longer than {self.config.timeout:g}s",
                collector=SERVICE,
            )
        return left
