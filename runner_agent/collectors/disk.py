"""Which file system the disk figures describe, and why.

``healthcheck.disk_path`` names it. Left empty, it is Docker's own data
directory: the ``DockerRootDir`` the Docker daemon reports when this agent
can see that path, else ``/var/lib/docker`` when present, else ``/``. A
configured path that does not exist is reported as ``/`` instead, with one
warning, until the path appears.

A path found missing is not looked at again for 30 seconds, so a host
without ``/var/lib/docker`` does not pay for a failed ``statvfs`` on every
beat; a path that appears is picked up within that time.
"""

from __future__ import annotations

import time
from typing import Literal, NamedTuple

import structlog

from runner_agent.collectors.host import DOCKER_DATA_DIR, DiskUsage, disk_usage

log = structlog.get_logger(__name__)

Source = Literal["config", "docker", "default", "root", "fallback"]
RECHECK_AFTER = 30.0


class DiskReading(NamedTuple):
    """A disk usage and where its path came from."""

    usage: DiskUsage
    source: Source


class DiskPath:
    """Measures the disk path, falling back without failing the beat."""

    def __init__(
        self, configured: str, *, recheck_after: float = RECHECK_AFTER
    ) -> None:
        self.configured = configured
        self.docker_root = ""
        self.warnings: dict[str, str] = {}
        self._recheck_after = recheck_after
        self._missing: dict[str, float] = {}

    def measure(self) -> DiskReading:
        if self.configured:
            return self._configured()
        if self.docker_root:
            usage = self._usage(self.docker_root)
            if usage is not None:
                self._clear("docker_root_not_visible")
                return DiskReading(usage, "docker")
            self._warn_once(
                "docker_root_not_visible",
                f"Docker keeps its data in {self.docker_root}, which this agent "
                "cannot see; mount it to report its disk",
            )
        usage = self._usage(DOCKER_DATA_DIR)
        if usage is not None:
            return DiskReading(usage, "default")
        return DiskReading(disk_usage("/"), "root")

    def _configured(self) -> DiskReading:
        usage = self._usage(self.configured)
        if usage is None:
            self._warn_once(
                "disk_path_missing",
                f"healthcheck.disk_path {self.configured} does not exist; "
                "reporting / instead",
            )
            return DiskReading(disk_usage("/"), "fallback")
        if self._clear("disk_path_missing"):
            log.info("disk_path_found", path=self.configured)
        return DiskReading(usage, "config")

    def _usage(self, path: str) -> DiskUsage | None:
        """The usage of ``path``, or None while it is known to be missing."""
        missing_since = self._missing.get(path)
        now = time.monotonic()
        if missing_since is not None and now - missing_since < self._recheck_after:
            return None
        try:
            usage = disk_usage(path)
        except FileNotFoundError:
            self._missing[path] = now
            return None
        self._missing.pop(path, None)
        return usage

    def _warn_once(self, event: str, message: str) -> None:
        if event not in self.warnings:
            self.warnings[event] = message
            log.warning(event, detail=message)

    def _clear(self, event: str) -> bool:
        return self.warnings.pop(event, None) is not None
