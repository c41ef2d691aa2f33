"""The local report: what the control plane has no field for.

Shown by ``/status`` (under ``host``), ``/metrics`` and ``runner-agent
metrics``: pressure stall information, inode usage, where the disk figure
comes from, the state of Docker and of every check, how long each collector
took and whether it failed, and warnings an operator should act on. Keys are
camelCase, values JSON-serialisable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner_agent.collectors.pressure import read_pressure

if TYPE_CHECKING:
    from runner_agent.collectors import HostMonitor


def local_report(monitor: HostMonitor, now: float) -> dict[str, Any]:
    reading = monitor.last_disk()
    gpu = monitor.gpu()
    view = monitor.host_view
    return {
        "cpu": {
            "windowSamples": monitor.cpu.count,
            "windowSize": monitor.cpu.window,
            "sampleIntervalSeconds": monitor.config.healthcheck.cpu_sample_interval,
        },
        "disk": {
            "path": reading.usage.path,
            "source": reading.source,
            "configuredPath": monitor.disk.configured or None,
            "inodesTotal": reading.usage.inodes_total,
            "inodesUsedPercent": _round(reading.usage.inodes_used_percent),
        },
        "pressure": read_pressure(monitor.proc.path),
        "docker": monitor.docker.report(now),
        "gpu": {
            "count": gpu.count,
            "model": gpu.model or None,
            "source": gpu.source,
            "note": gpu.note or None,
        },
        "hostView": {
            "procPath": view.proc_path,
            "inContainer": view.in_container,
            "procIsHost": view.proc_is_host,
            "reason": view.reason or None,
        },
        "checks": monitor.checks.report(now),
        "collectors": {
            name: probe.to_json(now) for name, probe in monitor.probes().items()
        },
        "warnings": warnings(monitor, now),
    }


def warnings(monitor: HostMonitor, now: float) -> list[str]:
    """What an operator should act on, one sentence each."""
    found: list[str] = []
    view = monitor.host_view
    if not view.proc_is_host:
        found.append(f"{view.proc_path} does not show the host: {view.reason}")
    found.extend(list(monitor.disk.warnings.values()))
    docker = monitor.docker
    snapshot = docker.snapshot
    if docker.stale(now):
        why = snapshot.error or snapshot.scan_error or "no refresh"
        found.append(f"Docker figures are stale: {why}")
    elif snapshot.state == "forbidden" or (
        snapshot.state == "absent" and docker.config.required
    ):
        found.append(snapshot.error)
    for name, probe in monitor.probes().items():
        if probe.failures and name != "docker":
            found.append(f"{name} collector failing: {probe.error}")
    return found


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
