"""Host measurements for the healthcheck.

:class:`HostMonitor` is what the daemon and the ``metrics`` command use: it
hands the daemon the periodic jobs that keep slow measurements fresh in the
background, and builds the ``metrics`` and ``serviceHealth`` parts of a
healthcheck from cached values and fast reads only, so a healthcheck never
waits for a measurement.
"""

from __future__ import annotations

from typing import Any

import psutil
import structlog

from runner_agent.collectors.host import (
    CpuSampler,
    default_disk_path,
    disk_usage,
    load_per_cpu,
    memory,
)
from runner_agent.config import Config
from runner_agent.jobs import PeriodicJob

log = structlog.get_logger(__name__)

CPU_SAMPLE_INTERVAL = 5.0


class HostMonitor:
    """Measures this host the way the control plane expects it reported."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.disk_path = config.healthcheck.disk_path or default_disk_path()
        self.cpu_count = psutil.cpu_count() or 1
        self.cpu = CpuSampler()

    def jobs(self) -> list[PeriodicJob]:
        return [PeriodicJob("cpu-sample", CPU_SAMPLE_INTERVAL, self.cpu.sample)]

    def metrics(self) -> dict[str, Any]:
        """The ``metrics`` object of a healthcheck (RunnerHealthMetrics)."""
        memory_percent, memory_total = memory()
        disk = disk_usage(self.disk_path)
        return {
            "currentCpuLoadAverage": round(load_per_cpu(self.cpu_count), 4),
            "currentCpuUsagePercentage": round(self.cpu.mean(), 2),
            "currentMemoryUsagePercentage": round(memory_percent, 2),
            "currentDiskUsagePercentage": disk.percent,
            "currentAllocatedCpu": 0,
            "currentAllocatedMemoryGiB": 0,
            "currentAllocatedDiskGiB": 0,
            "currentSnapshotCount": 0,
            "currentStartedSandboxes": 0,
            "cpu": self.cpu_count,
            "memoryGiB": round(memory_total, 2),
            "diskGiB": round(disk.total_gib, 2),
        }

    def service_health(self) -> list[dict[str, Any]]:
        """The ``serviceHealth`` list of a healthcheck."""
        return []

    def collect_once(self) -> None:
        """Measure what the background jobs would, now (for one-shot use)."""
        self.cpu.sample(over=0.25)

    def reconfigure(self, config: Config) -> None:
        """Take up a reloaded configuration."""
        self.config = config
        self.disk_path = config.healthcheck.disk_path or default_disk_path()

    def close(self) -> None:
        """Release what the monitor holds (sockets, threads)."""
