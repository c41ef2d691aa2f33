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

A refresh is one job with its own deadline (``docker.timeout``); a
healthcheck only reads the cached :class:`DockerSnapshot`, so a hung daemon
never delays one. The ``docker`` service's health follows the ping alone:
a Docker that answers is healthy even when the scan of its containers runs
out of time, and the figures are then the last complete ones, flagged stale
in the local report. Each container is inspected once, not on every
refresh (:mod:`runner_agent.collectors.containers`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from runner_agent.collectors.containers import Allocation, ContainerLimits
from runner_agent.collectors.dockerapi import DockerEngine, NotFound
from runner_agent.collectors.probe import Probe
from runner_agent.config import DockerConfig
from runner_agent.errors import CollectionError
from runner_agent.reasons import short_reason

log = structlog.get_logger(__name__)

State = Literal["unknown", "ok", "absent", "forbidden", "unreachable"]
SERVICE = "docker"
# Cached figures older than this many refresh intervals are flagged stale.
STALE_AFTER_REFRESHES = 3


@dataclass(frozen=True)
class DockerSnapshot:
    """The last figures read from Docker, and how Docker fared since."""

    state: State = "unknown"
    allocation: Allocation = field(default_factory=Allocation)
    images: int = 0
    root_dir: str = ""
    error: str = ""
    refreshed_at: float | None = None
    # Why the figures are older than the last ping (a scan out of time).
    scan_error: str = ""


class DockerCollector:
    """Refreshes the Docker figures in the background and caches them."""

    def __init__(self, config: DockerConfig) -> None:
        self.config = config
        self.snapshot = DockerSnapshot()
        self.probe: Probe[None] = Probe(SERVICE, None)
        self._limits = ContainerLimits()
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
        engine = self._engine_now()
        deadline = time.monotonic() + self.config.timeout
        if self._answers(engine, started):
            self._rescan(engine, deadline, started)

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
            "containersKnown": len(self._limits),
            "rootDir": snapshot.root_dir or None,
            "ageSeconds": None if age is None else round(age, 1),
            "stale": self.stale(now),
            "error": snapshot.error or None,
            "scanError": snapshot.scan_error or None,
        }

    def stale(self, now: float) -> bool:
        snapshot = self.snapshot
        if snapshot.state == "unreachable" or snapshot.scan_error:
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
            self._limits.clear()
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

    def _answers(self, engine: DockerEngine, started: int) -> bool:
        """Ping Docker; the ``docker`` service is healthy exactly when it answers."""
        try:
            engine.ping(self.config.timeout)
        except CollectionError as error:
            self.snapshot = replace(
                self.snapshot, state="unreachable", error=short_reason(error)
            )
            self.probe.failed(started, error)
            return False
        self.snapshot = replace(self.snapshot, state="ok", error="")
        self._seen = True
        self._noted.clear()
        return True

    def _rescan(self, engine: DockerEngine, deadline: float, started: int) -> None:
        try:
            self.snapshot = self._read(engine, deadline)
        except (CollectionError, LookupError, TypeError, ValueError) as error:
            # The last three: an answer without the fields the Engine API has.
            # Docker did answer its ping: it stays healthy, and the figures
            # stay the last complete ones, stale until a scan completes.
            self.snapshot = replace(self.snapshot, scan_error=short_reason(error))
            self.probe.failed(started, error)
            return
        self.probe.succeeded(started)

    def _read(self, engine: DockerEngine, deadline: float) -> DockerSnapshot:
        info = engine.get_json("/info", timeout=self._remaining(deadline))
        listing = engine.get_json(
            "/containers/json", self._list_params(), timeout=self._remaining(deadline)
        )
        if not isinstance(info, dict) or not isinstance(listing, list):
            raise CollectionError("unexpected answer shape", collector=SERVICE)

        def inspect(container_id: str) -> dict[str, Any] | None:
            path = f"/containers/{container_id}/json"
            try:
                answer = engine.get_json(path, timeout=self._remaining(deadline))
            except NotFound:
                return None
            if not isinstance(answer, dict):
                raise CollectionError(f"{path}: unexpected answer", collector=SERVICE)
            return answer

        return DockerSnapshot(
            state="ok",
            allocation=self._limits.allocation(listing, inspect),
            images=int(info.get("Images") or 0),
            root_dir=str(info.get("DockerRootDir") or ""),
            refreshed_at=time.monotonic(),
        )

    def _list_params(self) -> dict[str, str]:
        # Stopped containers too: their disk counts (Docker lists only the
        # running ones without all=1).
        params = {"all": "1"}
        if self.config.sandbox_label:
            params["filters"] = json.dumps({"label": [self.config.sandbox_label]})
        return params

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CollectionError(
                f"the refresh took longer than {self.config.timeout:g}s",
                collector=SERVICE,
            )
        return left
