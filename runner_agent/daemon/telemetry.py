"""Prometheus metrics of the agent and of the host it reports.

Counters and the latency histogram are updated as things happen; everything
that is a copy of a value the daemon already holds (the last payload, the
runner's state) is read at scrape time by :class:`_StatusCollector`, so the
beat path does no extra work for metrics nobody scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from runner_agent import __version__
from runner_agent.daemon.status import AgentStatus, BeatRecord
from runner_agent.models import RUNNER_STATES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Host metrics reported in the healthcheck, exposed under these names.
_HOST_GAUGES = {
    "currentCpuUsagePercentage": ("cpu_usage_percent", "CPU usage, window mean"),
    "currentCpuLoadAverage": ("load_per_cpu", "15-minute load divided by CPUs"),
    "currentMemoryUsagePercentage": ("memory_usage_percent", "Memory used"),
    "currentDiskUsagePercentage": ("disk_usage_percent", "Disk path usage"),
    "currentAllocatedCpu": ("allocated_cpu", "CPUs allocated to sandboxes"),
    "currentAllocatedMemoryGiB": ("allocated_memory_gib", "Memory allocated, GiB"),
    "currentAllocatedDiskGiB": ("allocated_disk_gib", "Disk allocated, GiB"),
    "currentSnapshotCount": ("snapshots", "Snapshots (images) on the host"),
    "currentStartedSandboxes": ("started_sandboxes", "Sandboxes running"),
    "cpu": ("cpus", "CPUs of the host"),
    "memoryGiB": ("memory_gib", "Memory of the host, GiB"),
    "diskGiB": ("disk_gib", "Size of the disk path, GiB"),
    "gpu": ("gpus", "GPUs of the host"),
}


class Telemetry:
    """The agent's Prometheus registry."""

    def __init__(self, status: AgentStatus) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.healthchecks = Counter(
            "runner_agent_healthchecks",
            "Healthchecks sent, by result",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "runner_agent_request_duration_seconds",
            "Duration of requests to the control plane",
            ["operation"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_StatusCollector(status))

    def observe_beat(self, record: BeatRecord) -> None:
        self.healthchecks.labels(record.result).inc()
        self.observe_request("healthcheck", record.latency_ms / 1000)

    def observe_request(self, operation: str, seconds: float) -> None:
        """One request's duration, answered or not (``healthcheck``, ``runners_me``)."""
        self.latency.labels(operation).observe(seconds)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _StatusCollector(Collector):
    """Reads the daemon's status at scrape time."""

    def __init__(self, status: AgentStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[Any]:
        status = self.status
        info = InfoMetricFamily("runner_agent", "The agent and its runner")
        identity = status.identity
        info.add_metric(
            [],
            {
                "version": __version__,
                "runner_id": identity.runner_id if identity else "",
                "runner_name": identity.name if identity else "",
            },
        )
        yield info

        ready, _ = status.readiness()
        yield _gauge("runner_agent_ready", "1 when /readyz would answer 200", ready)
        yield _gauge(
            "runner_agent_healthcheck_consecutive_failures",
            "Healthchecks failed since the last accepted one",
            status.consecutive_failures,
        )
        last = status.last_accepted
        if last is not None:
            yield _gauge(
                "runner_agent_last_healthcheck_success_timestamp_seconds",
                "When the last healthcheck was accepted (Unix time)",
                _unix_time(last.at),
            )
        yield from _runner_gauges(status)
        yield from _host_gauges(status.last_payload)
        if status.host_report is not None:
            yield from _local_gauges(status.host_report())


def _runner_gauges(status: AgentStatus) -> Iterator[GaugeMetricFamily]:
    runner = status.runner
    if runner is None:
        return
    states = GaugeMetricFamily(
        "runner_agent_runner_state",
        "The runner's state as the control plane reports it",
        labels=["state"],
    )
    known = set(RUNNER_STATES) | {runner.state}
    for state in sorted(known):
        states.add_metric([state], 1.0 if runner.state == state else 0.0)
    yield states
    yield _gauge(
        "runner_agent_runner_unschedulable",
        "1 when the runner is cordoned",
        runner.unschedulable,
    )


def _host_gauges(payload: dict[str, Any] | None) -> Iterator[GaugeMetricFamily]:
    metrics = (payload or {}).get("metrics") or {}
    for field, (name, help_text) in _HOST_GAUGES.items():
        value = metrics.get(field)
        if isinstance(value, int | float):
            yield _gauge(f"runner_agent_host_{name}", help_text, value)


def _local_gauges(report: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    """What the API has no field for: pressure, inodes, collector health."""
    pressure = GaugeMetricFamily(
        "runner_agent_host_pressure_percent",
        "Pressure stall information of the host (/proc/pressure)",
        labels=["resource", "kind", "window"],
    )
    for resource, figures in (report.get("pressure") or {}).items():
        for key, value in (figures or {}).items():
            kind, window = key[:4], key[4:].lower()
            if isinstance(value, int | float):
                pressure.add_metric([resource, kind, window], float(value))
    yield pressure
    inodes = (report.get("disk") or {}).get("inodesUsedPercent")
    if isinstance(inodes, int | float):
        yield _gauge(
            "runner_agent_host_inodes_used_percent",
            "Inodes used on the disk path",
            inodes,
        )
    healthy = GaugeMetricFamily(
        "runner_agent_collector_ok",
        "1 when the collector's last run succeeded",
        labels=["collector"],
    )
    for name, collector in (report.get("collectors") or {}).items():
        healthy.add_metric([name], 1.0 if collector.get("ok") else 0.0)
    yield healthy


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=float(value))


def _unix_time(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
