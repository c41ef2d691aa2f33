"""Pressure stall information: how much time work waited for CPU, memory, IO.

``/proc/pressure/{cpu,memory,io}`` (Linux 4.20+, ``CONFIG_PSI``) give, for
"some" (at least one task stalled) and "full" (all non-idle tasks stalled),
the share of wall time stalled averaged over 10, 60 and 300 seconds. They
are read from the same proc root as the other host figures. The control
plane has no field for them; they are shown locally only.
"""

from __future__ import annotations

import os
from typing import Any

from runner_agent.collectors.host import DEFAULT_PROC, read_proc

RESOURCES = ("cpu", "memory", "io")
_WINDOWS = {b"avg10": "Avg10", b"avg60": "Avg60", b"avg300": "Avg300"}


def parse_pressure(data: bytes) -> dict[str, float]:
    """``{"someAvg10": 0.5, ..., "fullAvg300": 0.0}`` from one pressure file."""
    figures: dict[str, float] = {}
    for line in data.splitlines():
        kind, *pairs = line.split()
        for pair in pairs:
            name, _, value = pair.partition(b"=")
            if name in _WINDOWS:
                figures[f"{kind.decode()}{_WINDOWS[name]}"] = float(value)
    if not figures:
        raise ValueError("no pressure figures")
    return figures


def read_pressure(proc_path: str = DEFAULT_PROC) -> dict[str, Any]:
    """Every resource's figures; a resource that cannot be read says why."""
    report: dict[str, Any] = {}
    for resource in RESOURCES:
        path = os.path.join(proc_path, "pressure", resource)
        try:
            report[resource] = parse_pressure(read_proc(path))
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            report[resource] = {"unavailable": reason or type(error).__name__}
    return report
