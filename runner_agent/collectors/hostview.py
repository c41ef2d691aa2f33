"""Whether the configured ``/proc`` shows this host, or only a container.

The host figures come from one ``/proc`` tree (``healthcheck.proc_path``).
In an ordinary container its own ``/proc/stat``, ``/proc/meminfo`` and
``/proc/loadavg`` are system-wide, so even the default reports the host.
Some set-ups replace them with the container's own view, and then the agent
would report the container as if it were the host:

* LXCFS (Kubernetes node add-ons, LXD, some sidecar images) mounts FUSE
  files over those paths; ``/proc/self/mountinfo`` shows the mounts. This is
  checked first and is conclusive.
* Sandboxed runtimes (gVisor, Sysbox and others) synthesise ``/proc``; their
  tell is a ``MemTotal`` equal to the container's own cgroup memory limit,
  which no real host shows. A container without a memory limit cannot be
  told apart this way, but then its ``/proc`` shows the whole machine's
  memory anyway.

The host's ``/proc`` mounted into the container (at ``/host/proc``, say)
sidesteps both: overlays on the container's own ``/proc`` no longer matter,
and the same tests are applied to the mounted tree instead, which must also
be a ``proc`` file system rather than a directory of copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner_agent.collectors.host import (
    DEFAULT_PROC,
    GIB,
    HostProc,
    parse_meminfo,
    read_proc,
)

# The files the figures come from, relative to the proc root.
_PROC_FILES = ("meminfo", "stat", "loadavg", "cpuinfo")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# Cgroup v1 writes "no limit" as a page-rounded 2**63 - 1.
_NO_LIMIT = 2**60
_SAME_MEMORY = 0.01
# How mountinfo writes the characters that would break its fields.
_ESCAPES = {"\\040": " ", "\\011": "\t", "\\012": "\n", "\\134": "\\"}


@dataclass(frozen=True)
class HostView:
    """What this process sees of the machine through its proc root."""

    in_container: bool
    proc_is_host: bool
    reason: str = ""
    proc_path: str = DEFAULT_PROC


def _unescape(field: str) -> str:
    for escaped, char in _ESCAPES.items():
        field = field.replace(escaped, char)
    return field


def _mounts(mountinfo: str) -> list[tuple[str, str]]:
    """(mount point, file system type) of each line, in mount order."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        # Optional fields sit between the sixth field and the "-" separator.
        if len(fields) > 7 and "-" in fields[6:-1]:
            kind = fields[fields.index("-", 6) + 1]
            mounts.append((_unescape(fields[4]), kind))
    return mounts


def overlaid_proc_files(mountinfo: str, root: str = DEFAULT_PROC) -> list[str]:
    """Files of the proc ``root`` that another file system is mounted over."""
    wanted = {os.path.join(root, name) for name in _PROC_FILES}
    return [point for point, _ in _mounts(mountinfo) if point in wanted]


def filesystem_at(mountinfo: str, path: str) -> str | None:
    """The type of the file system ``path`` lies on; None if none is listed."""
    found, depth = None, -1
    for point, kind in _mounts(mountinfo):
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        # The deepest mount point wins; of equal ones, the last mounted.
        if inside and len(point) >= depth:
            found, depth = kind, len(point)
    return found


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


def detect_host_view(proc_path: str = DEFAULT_PROC) -> HostView:
    """Judge the proc root at ``proc_path``; the answer holds while it is mounted."""
    proc = HostProc(proc_path)
    contained = in_container()
    try:
        total = int(parse_meminfo(proc.read("meminfo")).total_gib * GIB)
    except (OSError, ValueError) as error:
        if proc.path == DEFAULT_PROC:
            return HostView(contained, True, proc_path=proc.path)
        # A root named on purpose that cannot be read is a mount forgotten.
        reason = f"{proc.file('meminfo')} cannot be read: {_why(error)}"
        return HostView(contained, False, reason, proc.path)
    try:
        # This process's own mounts and cgroup: always its own /proc.
        mountinfo = read_proc("/proc/self/mountinfo").decode(errors="replace")
        cgroup = read_proc("/proc/self/cgroup").decode(errors="replace")
    except OSError:
        return HostView(contained, True, proc_path=proc.path)
    real = os.path.realpath(proc.path)
    kind = filesystem_at(mountinfo, real)
    if kind not in (None, "proc"):
        reason = f"{proc.path} is on a {kind} file system, not proc"
        return HostView(contained, False, reason, proc.path)
    reason = _container_view(real, mountinfo, cgroup, total)
    if reason:
        return HostView(True, False, reason, proc.path)
    return HostView(contained, True, proc_path=proc.path)


def _container_view(root: str, mountinfo: str, cgroup: str, total: int) -> str:
    """Why the proc tree at ``root`` shows a container; "" if it does not."""
    overlaid = overlaid_proc_files(mountinfo, root)
    if overlaid:
        return f"{', '.join(overlaid)} are overlaid (LXCFS)"
    limit = memory_limit(cgroup)
    if limit is not None and abs(total - limit) <= _SAME_MEMORY * limit:
        return "MemTotal equals this container's memory limit"
    return ""


def _why(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
