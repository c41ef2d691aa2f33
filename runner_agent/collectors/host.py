"""CPU, memory, disk and load of the host, read as Daytona's runner reads them.

* CPU usage: busy share of ``stat``'s first line between two samples
  (iowait counts as idle, guest time is already inside user time), the mean
  of a sliding window of samples.
* Load: the 15-minute load of ``loadavg`` divided by the CPU count, which
  is the number of ``cpuN`` lines of ``stat`` (the online CPUs).
* Memory: ``used / total`` with ``used = MemTotal - MemFree - Buffers -
  Cached - SReclaimable``, which is what gopsutil's ``UsedPercent`` is on
  Linux (psutil's ``percent`` is ``(total - available) / total`` instead).
* Disk: ``used / (used + available to users)`` of the file system holding a
  path, as ``df`` and gopsutil compute it, and its size.

The kernel files come from one ``/proc`` tree, :class:`HostProc`: the
agent's own by default, or the host's mounted into a container (for
example at ``/host/proc``), so that every figure describes the same host.

The files are read without a buffered file object, which only adds cost:
``/proc`` renders a file afresh whenever a read starts at its beginning, so
the three read on every beat and sample stay open and are re-read with
``pread`` at offset 0, saving an ``open`` and a ``close`` each time.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import NamedTuple

GIB = 1024**3
DOCKER_DATA_DIR = "/var/lib/docker"
DEFAULT_PROC = "/proc"
_READ_SIZE = 16384
# Fewer elapsed ticks than this (per CPU) make a usage figure mostly noise.
_MIN_TICKS_PER_CPU = 10


def read_proc(path: str) -> bytes:
    """The whole content of a small kernel file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, _READ_SIZE)]
        while len(chunks[-1]) == _READ_SIZE:
            chunks.append(os.read(fd, _READ_SIZE))
    finally:
        os.close(fd)
    return b"".join(chunks)


class ProcFile:
    """A kernel file kept open and read again from its start on each read."""

    def __init__(self, path: str, size: int = _READ_SIZE) -> None:
        self.path = path
        self.size = size
        self._fd: int | None = None
        self._lock = threading.Lock()

    def read(self) -> bytes:
        """The file's current content (its first ``size`` bytes)."""
        fd = self._fd if self._fd is not None else self._open()
        try:
            return os.pread(fd, self.size, 0)
        except OSError:
            # A descriptor gone stale (a /proc remounted): open afresh once.
            self._fd = None
            with contextlib.suppress(OSError):
                os.close(fd)
            return os.pread(self._open(), self.size, 0)

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY)
            return self._fd

    def __del__(self) -> None:
        # Closed only once nothing holds the file any more: closing it while
        # another thread reads could hand that thread a reused descriptor.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def parse_cpu_times(stat: bytes) -> tuple[int, int]:
    """Busy and total ticks from the aggregate ``cpu`` line of /proc/stat."""
    fields = stat[: stat.index(b"\n")].split()
    if fields[0] != b"cpu" or len(fields) < 8:
        raise ValueError("/proc/stat does not start with the cpu line")
    # user nice system idle iowait irq softirq steal; guest and guest_nice
    # are already counted in user and nice.
    ticks = list(map(int, fields[1:9]))
    total = sum(ticks)
    return total - ticks[3] - ticks[4], total


def parse_cpu_count(stat: bytes) -> int:
    """The online CPUs: the ``cpuN`` lines of /proc/stat."""
    count = sum(
        1
        for line in stat.split(b"\n")
        if line.startswith(b"cpu") and line[3:4].isdigit()
    )
    if not count:
        raise ValueError("/proc/stat lists no cpuN line")
    return count


def parse_load15(loadavg: bytes) -> float:
    """The 15-minute load average, the third field of /proc/loadavg."""
    fields = loadavg.split(None, 3)
    if len(fields) < 3:
        raise ValueError("/proc/loadavg has fewer than three load averages")
    return float(fields[2])


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Busy share between two readings; None when no time was counted."""
    busy = after[0] - before[0]
    total = after[1] - before[1]
    if total <= 0:
        return None
    return min(100.0, max(0.0, 100.0 * busy / total))


class Memory(NamedTuple):
    """Memory used, as gopsutil's ``UsedPercent``, and the total."""

    used_percent: float = 0.0
    total_gib: float = 0.0


def parse_meminfo(data: bytes) -> Memory:
    # MemTotal, MemFree, Buffers and Cached open the file (MemAvailable among
    # them since Linux 3.14), before SwapCached: only that head is split.
    end = data.find(b"\nSwapCached:")
    words = data[: end if end > 0 else len(data)].split()
    head = dict(zip(words[0::3], words[1::3], strict=False))
    try:
        total, free = int(head[b"MemTotal:"]), int(head[b"MemFree:"])
        cached = int(head[b"Buffers:"]) + int(head[b"Cached:"])
    except KeyError as missing:
        raise ValueError(f"/proc/meminfo has no {missing.args[0]!r}") from None
    if total <= 0:
        raise ValueError("/proc/meminfo gives no MemTotal")
    reclaimable = data.find(b"\nSReclaimable:")
    if reclaimable >= 0:
        line_end = data.index(b"\n", reclaimable + 1)
        cached += int(data[reclaimable + 14 : line_end].split()[0])
    used = total - free - cached
    if used < 0:
        used = total - free
    return Memory(used_percent=100.0 * used / total, total_gib=total * 1024 / GIB)


class HostProc:
    """The host's CPU, memory and load figures from one ``/proc`` tree.

    Nothing is opened until a figure is asked for, so a tree that is not
    there yet fails the collectors that read it, not the agent's start.
    """

    def __init__(self, path: str = DEFAULT_PROC) -> None:
        self.path = os.path.normpath(path)
        # Only the aggregate first line of stat is read per sample; it is short.
        self._stat = ProcFile(self.file("stat"), 1024)
        self._meminfo = ProcFile(self.file("meminfo"))
        self._loadavg = ProcFile(self.file("loadavg"), 256)

    def __repr__(self) -> str:
        return f"HostProc({self.path!r})"

    def file(self, name: str) -> str:
        """The path of one file of this tree."""
        return os.path.join(self.path, name)

    def read(self, name: str) -> bytes:
        """One file of this tree, opened and read whole."""
        return read_proc(self.file(name))

    def cpu_times(self) -> tuple[int, int]:
        """Busy and total ticks of all CPUs since boot."""
        return parse_cpu_times(self._stat.read())

    def cpu_count(self) -> int:
        """The online CPUs of the host this tree shows."""
        # Not os.cpu_count(), which asks sysfs and so cannot follow the tree:
        # load per CPU must divide two figures of the same host. The whole
        # file is read, past the first line the kept-open reader holds.
        return parse_cpu_count(self.read("stat"))

    def memory(self) -> Memory:
        return parse_meminfo(self._meminfo.read())

    def load15(self) -> float:
        # Not os.getloadavg(): glibc answers it with sysinfo(2), which a
        # mounted tree cannot redirect and LXCFS cannot overlay, so the load
        # could come from another view than the CPU count it is divided by.
        return parse_load15(self._loadavg.read())


class CpuSampler:
    """A sliding window of CPU usage samples and their mean.

    Each :meth:`sample` records the usage since the previous one. Before the
    first sample the mean is the usage since the sampler started, or since
    boot when too little time has passed for that to mean anything.
    """

    def __init__(
        self, window: int = 60, proc: HostProc | None = None, *, cpus: int = 0
    ) -> None:
        self.proc = proc if proc is not None else HostProc()
        self._lock = threading.Lock()
        self._samples: deque[float] = deque(maxlen=window)
        self._sum = 0.0
        self._start = self._last = self._times_or_none()
        # Counted once (by the caller when it has counted them already): the
        # early estimate needs only its order of size, and a beat must not
        # read the whole of stat again for it.
        if cpus < 1:
            try:
                cpus = self.proc.cpu_count()
            except (OSError, ValueError):
                cpus = 1
        self._enough_ticks = _MIN_TICKS_PER_CPU * cpus

    @property
    def window(self) -> int:
        return self._samples.maxlen or 0

    @property
    def count(self) -> int:
        return len(self._samples)

    def resize(self, window: int) -> None:
        with self._lock:
            self._samples = deque(self._samples, maxlen=window)
            self._sum = sum(self._samples)

    def sample(self) -> None:
        """Record the usage since the previous sample."""
        now = self.proc.cpu_times()
        with self._lock:
            last, self._last = self._last, now
            value = None if last is None else busy_percent(last, now)
            if value is None:
                return
            if len(self._samples) == self._samples.maxlen:
                self._sum -= self._samples[0]
            self._samples.append(value)
            self._sum += value

    def mean(self) -> float:
        with self._lock:
            if self._samples:
                return max(0.0, self._sum / len(self._samples))
        return self._early_estimate()

    def _times_or_none(self) -> tuple[int, int] | None:
        try:
            return self.proc.cpu_times()
        except (OSError, ValueError):
            return None

    def _early_estimate(self) -> float:
        try:
            now = self.proc.cpu_times()
        except (OSError, ValueError):
            return 0.0
        with self._lock:
            if self._start is None:
                self._start = now
            start = self._start
        if now[1] - start[1] >= self._enough_ticks:
            return busy_percent(start, now) or 0.0
        return busy_percent((0, 0), now) or 0.0


class DiskUsage(NamedTuple):
    """Usage of the file system holding ``path``."""

    path: str = "/"
    percent: float = 0.0
    total_gib: float = 0.0
    inodes_total: int = 0
    inodes_used_percent: float | None = None


def disk_usage(path: str) -> DiskUsage:
    usage = os.statvfs(path)
    used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    available = usage.f_bavail * usage.f_frsize
    # As df computes it: used over what users could use in all (the blocks
    # reserved for root count as neither).
    percent = 100.0 * used / (used + available) if used + available else 0.0
    inodes_used = usage.f_files - usage.f_ffree
    return DiskUsage(
        path=path,
        percent=percent,
        total_gib=usage.f_blocks * usage.f_frsize / GIB,
        inodes_total=usage.f_files,
        # Some file systems (btrfs) allocate inodes on demand: no total.
        inodes_used_percent=100.0 * inodes_used / usage.f_files
        if usage.f_files
        else None,
    )
