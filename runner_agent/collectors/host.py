"""CPU, memory, disk and load of the host, measured as Daytona's runner does.

* CPU usage: the mean of samples taken every few seconds over a sliding
  window (Daytona: every 5 s, 60 samples).
* Load average: the 15-minute load divided by the CPU count.
* Memory: percent used, and the total in GiB.
* Disk: percent used and the total in GiB of the disk path (the Docker data
  directory by default).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

GIB = 1024**3
DOCKER_DATA_DIR = "/var/lib/docker"


def default_disk_path() -> str:
    """The Docker data directory when present, else the root file system."""
    return DOCKER_DATA_DIR if Path(DOCKER_DATA_DIR).is_dir() else "/"


class CpuSampler:
    """Keeps a sliding window of CPU usage samples and reports their mean."""

    def __init__(self, window: int = 60) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        # The first call only primes psutil's counters; it returns 0.0.
        psutil.cpu_percent(interval=None)

    def sample(self, over: float | None = None) -> None:
        """Record the usage since the last sample, or over ``over`` seconds."""
        value = psutil.cpu_percent(interval=over)
        with self._lock:
            self._samples.append(value)

    def mean(self) -> float:
        """The window's mean; before any sample, the usage since start-up."""
        with self._lock:
            if self._samples:
                return sum(self._samples) / len(self._samples)
        return float(psutil.cpu_percent(interval=None))


@dataclass(frozen=True)
class DiskUsage:
    """Usage of one file system."""

    path: str
    percent: float
    total_gib: float


def disk_usage(path: str) -> DiskUsage:
    usage = os.statvfs(path)
    total = usage.f_blocks * usage.f_frsize
    free_for_users = usage.f_bavail * usage.f_frsize
    used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    # As df computes it: used over what users could use in all.
    percent = 100.0 * used / (used + free_for_users) if used + free_for_users else 0.0
    return DiskUsage(path=path, percent=round(percent, 2), total_gib=total / GIB)


def load_per_cpu(cpu_count: int) -> float:
    return os.getloadavg()[2] / max(cpu_count, 1)


def memory() -> tuple[float, float]:
    """Percent used and total GiB."""
    info = psutil.virtual_memory()
    return info.percent, info.total / GIB
