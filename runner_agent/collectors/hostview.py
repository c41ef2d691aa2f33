"""Whether ``/proc`` shows this host, or only the container the agent runs in.

In an ordinary container ``/proc/stat``, ``/proc/meminfo`` and
``/proc/loadavg`` are system-wide: a sidecar reports the host, which is what
the control plane wants. Two set-ups replace them with the container's own
view, and then the agent would report the container as if it were the host:

* LXCFS (Kubernetes node add-ons, LXD, some sidecar images) mounts FUSE
  files over those paths; ``/proc/self/mountinfo`` shows the mounts. This is
  checked first and is conclusive.
* Sandboxed runtimes (gVisor, Sysbox and others) synthesise ``/proc``; their
  tell is a ``MemTotal`` equal to the container's own cgroup memory limit,
  which no real host shows. A container without a memory limit cannot be
  told apart this way, but then its ``/proc`` shows the whole machine's
  memory anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner_agent.collectors.host import GIB, parse_meminfo, read_proc

_PROC_FILES = ("/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/cpuinfo")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# Cgroup v1 writes "no limit" as a page-rounded 2**63 - 1.
_NO_LIMIT = 2**60
_SAME_MEMORY = 0.01


@dataclass(frozen=True)
class HostView:
    """What this process sees of the machine."""

    in_container: bool
    proc_is_host: bool
    reason: str = ""


def overlaid_proc_files(mountinfo: str) -> list[str]:
    """/proc files that another file system is mounted over (LXCFS)."""
    overlaid = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] in _PROC_FILES:
            overlaid.append(fields[4])
    return overlaid


def memory_limit(cgroup: str) -> int | None:
    """The memory limit of this process's cgroup (v2 or v1), if any."""
    for line in cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            candidates = [_CGROUP_ROOT / path.lstrip("/") / "memory.max"]
        elif "memory" in controllers.split(","):
            base = _CGROUP_ROOT / "memory"
            candidates = [base / path.lstrip("/"), base]
            candidates = [c / "memory.limit_in_bytes" for c in candidates]
        else:
            continue
        for candidate in candidates:
            limit = _read_limit(candidate)
            if limit is not None:
                return limit
    return None


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) >= _NO_LIMIT:
        return None
    return int(text)


def in_container() -> bool:
    markers = ("/.dockerenv", "/run/.containerenv")
    if any(os.path.exists(marker) for marker in markers):
        return True
    return "KUBERNETES_SERVICE_HOST" in os.environ or "container" in os.environ


def detect_host_view() -> HostView:
    """Look once; the answer does not change while the process lives."""
    contained = in_container()
    try:
        mountinfo = read_proc("/proc/self/mountinfo").decode(errors="replace")
        cgroup = read_proc("/proc/self/cgroup").decode(errors="replace")
        total = int(parse_meminfo(read_proc("/proc/meminfo")).total_gib * GIB)
    except (OSError, ValueError):
        return HostView(contained, proc_is_host=True)
    overlaid = overlaid_proc_files(mountinfo)
    if overlaid:
        return HostView(True, False, f"{', '.join(overlaid)} are overlaid (LXCFS)")
    limit = memory_limit(cgroup)
    if limit is not None and abs(total - limit) <= _SAME_MEMORY * limit:
        return HostView(True, False, "MemTotal equals this container's memory limit")
    return HostView(contained, proc_is_host=True)
