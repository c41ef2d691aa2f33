"""Host measurements for the healthcheck.

:class:`HostMonitor` is what the daemon and the ``metrics`` command use. It
hands the daemon the periodic jobs that keep slow measurements fresh in the
background (CPU samples, Docker, GPUs, service checks) and builds the
``metrics`` and ``serviceHealth`` parts of a healthcheck from those cached
results plus three fast reads (``meminfo`` and ``loadavg`` of the proc root,
``statvfs``), so a healthcheck never waits for a measurement. Every kernel
figure comes from one proc root, ``healthcheck.proc_path``.

A collector that fails leaves its last good value in the payload (0 before
it ever succeeded), is logged once per failure streak and is shown as failing
in :meth:`HostMonitor.local_report`; the rest of the payload is unaffected.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from runner_agent.checks import CheckRunner
from runner_agent.collectors.disk import DiskPath, DiskReading
from runner_agent.collectors.docker import DockerCollector
from runner_agent.collectors.gpu import GpuInfo, detect_gpus
from runner_agent.collectors.host import (
    DEFAULT_PROC,
    CpuSampler,
    DiskUsage,
    HostProc,
    Memory,
)
from runner_agent.collectors.hostview import HostView, detect_host_view
from runner_agent.collectors.probe import Probe
from runner_agent.collectors.report import local_report
from runner_agent.config import Config
from runner_agent.jobs import PeriodicJob

__all__ = ["HostMonitor"]

log = structlog.get_logger(__name__)

GPU_REFRESH_INTERVAL = 300.0
# CPUs rarely come and go; counting them reads the whole of /proc/stat.
CPU_RECOUNT_INTERVAL = 60.0
# The one-shot commands measure CPU usage over this long before anything
# else. /proc/stat counts in ticks of 1/100 s per CPU: over 0.2 s a 2-CPU
# host gives 40 ticks, so one busy tick moves the figure 2.5 points; over a
# second it moves it half a point, and the commands stay quick.
ONE_SHOT_CPU_WINDOW = 1.0


def _rounded(value: float, scale: int = 100) -> float:
    # Every figure is zero or positive. round(value, n) formats the number to
    # decimal and back, which costs more than all the arithmetic of a beat.
    return int(value * scale + 0.5) / scale


class HostMonitor:
    """Measures this host the way the control plane expects it reported."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.proc = HostProc(config.healthcheck.proc_path)
        self._started = self._counted = time.monotonic()
        self._cpu_count = 1
        self._count_cpus()
        self.cpu = CpuSampler(
            config.healthcheck.cpu_window, self.proc, cpus=self._cpu_count
        )
        self.disk = DiskPath(config.healthcheck.disk_path)
        self.docker = DockerCollector(config.docker)
        self.checks = CheckRunner(config.checks)
        self.host_view: HostView = detect_host_view(self.proc.path)
        self._memory = Probe("memory", Memory())
        self._disk = Probe("disk", DiskReading(DiskUsage(), "root"))
        self._load = Probe("load", 0.0)
        self._cpu: Probe[None] = Probe("cpu", None)
        self._gpu = Probe("gpu", GpuInfo())
        self._warn_about_host_view()

    def jobs(self) -> list[PeriodicJob]:
        """The background refreshers; each must never overlap itself.

        Without checks configured there is no check job at all: an idle
        agent should not wake up every second for nothing.
        """
        jobs = [
            PeriodicJob(
                "host-cpu",
                self.config.healthcheck.cpu_sample_interval,
                self.sample_cpu,
                run_at_start=False,
            ),
            PeriodicJob(
                "host-docker", self.config.docker.refresh_interval, self.docker.refresh
            ),
            PeriodicJob("host-gpu", GPU_REFRESH_INTERVAL, self.refresh_gpu),
        ]
        if self.checks.states():
            jobs.append(
                PeriodicJob(
                    "host-checks", self.checks.tick_interval(), self.checks.dispatch
                )
            )
        return jobs

    def metrics(self) -> dict[str, Any]:
        """The ``metrics`` object of a healthcheck (RunnerHealthMetrics)."""
        proc = self.proc
        used = self._memory.measure(proc.memory)
        self.disk.docker_root = self.docker.snapshot.root_dir
        disk = self._disk.measure(self.disk.measure).usage
        load = self._load.measure(proc.load15)
        docker = self.docker.snapshot
        allocation = docker.allocation
        cpus = self._cpu_count
        body: dict[str, Any] = {
            "currentCpuLoadAverage": _rounded(load / cpus, 10_000),
            "currentCpuUsagePercentage": _rounded(self.cpu.mean()),
            "currentMemoryUsagePercentage": _rounded(used.used_percent),
            "currentDiskUsagePercentage": _rounded(disk.percent),
            "currentAllocatedCpu": _rounded(allocation.cpu, 1000),
            "currentAllocatedMemoryGiB": _rounded(allocation.memory_gib, 1000),
            "currentAllocatedDiskGiB": _rounded(allocation.disk_gib, 1000),
            "currentSnapshotCount": docker.images,
            "currentStartedSandboxes": allocation.started,
            "cpu": cpus,
            "memoryGiB": _rounded(used.total_gib),
            "diskGiB": _rounded(disk.total_gib),
        }
        gpu = self._gpu.value
        if gpu.count:
            body["gpu"] = gpu.count
            if gpu.model:
                body["gpuType"] = gpu.model
        return body

    def service_health(self) -> list[dict[str, Any]]:
        """The ``serviceHealth`` list of a healthcheck."""
        docker = self.docker.service()
        checks = self.checks.service_health()
        return checks if docker is None else [docker, *checks]

    def local_report(self) -> dict[str, Any]:
        """What is shown locally only (/status "host", /metrics)."""
        return local_report(self, time.monotonic())

    def sample_cpu(self) -> None:
        """Record one CPU usage sample (the periodic job)."""
        self._cpu.measure(self._sample_cpu)

    def refresh_gpu(self) -> None:
        """Look for GPUs again (the periodic job)."""
        self._gpu.measure(detect_gpus)

    def collect_once(self) -> None:
        """Run every refresher once, now, and wait for them.

        The CPU sample comes first, alone: taken while the checks, Docker's
        scan or ``nvidia-smi`` run, it would count their work as the host's
        load. The rest then run concurrently.
        """
        self._one_shot_cpu()
        with ThreadPoolExecutor(3, thread_name_prefix="collect") as pool:
            pool.submit(self.docker.refresh)
            pool.submit(self.refresh_gpu)
            pool.submit(self.checks.run_all)

    def reconfigure(self, config: Config) -> None:
        """Take up a reloaded configuration."""
        old, self.config = self.config, config
        if config.healthcheck.proc_path != old.healthcheck.proc_path:
            self._use_proc(config.healthcheck.proc_path)
        elif config.healthcheck.cpu_window != old.healthcheck.cpu_window:
            self.cpu.resize(config.healthcheck.cpu_window)
        if config.healthcheck.disk_path != old.healthcheck.disk_path:
            self.disk = DiskPath(config.healthcheck.disk_path)
        self.docker.reconfigure(config.docker)
        self.checks.reconfigure(config.checks)

    def close(self) -> None:
        """Release what the monitor holds (sockets, threads)."""
        self.docker.close()
        self.checks.close()

    def probes(self) -> dict[str, Probe[Any]]:
        """Every collector's probe, by name, for reports."""
        return {
            "cpu": self._cpu,
            "memory": self._memory,
            "disk": self._disk,
            "load": self._load,
            "docker": self.docker.probe,
            "gpu": self._gpu,
        }

    def last_disk(self) -> DiskReading:
        """The disk reading the last payload carried."""
        return self._disk.value

    def gpu(self) -> GpuInfo:
        """The GPUs the last detection found."""
        return self._gpu.value

    def _use_proc(self, path: str) -> None:
        # Counters of two trees do not subtract: the CPU window starts afresh.
        self.proc = HostProc(path)
        self._count_cpus()
        self.cpu = CpuSampler(
            self.config.healthcheck.cpu_window, self.proc, cpus=self._cpu_count
        )
        self.host_view = detect_host_view(self.proc.path)
        self._warn_about_host_view()

    def _count_cpus(self) -> None:
        # Outside the CPU job (at start, on a new proc root) a tree not
        # readable yet keeps the old count and has the next sample recount.
        try:
            self._cpu_count = self.proc.cpu_count()
        except (OSError, ValueError):
            self._counted = float("-inf")
        else:
            self._counted = time.monotonic()

    def _sample_cpu(self) -> None:
        self.cpu.sample()
        now = time.monotonic()
        if now - self._counted >= CPU_RECOUNT_INTERVAL:
            # Inside the CPU job's probe: a failure is the CPU collector's.
            self._cpu_count, self._counted = self.proc.cpu_count(), now

    def _one_shot_cpu(self) -> None:
        waited = time.monotonic() - self._started
        if waited < ONE_SHOT_CPU_WINDOW:
            time.sleep(ONE_SHOT_CPU_WINDOW - waited)
        self.sample_cpu()

    def _warn_about_host_view(self) -> None:
        view = self.host_view
        if view.proc_is_host:
            return
        if view.proc_path == DEFAULT_PROC:
            hint = (
                "the figures may describe this container, not the host; mount "
                "the host's /proc read-only into the container (for example at "
                "/host/proc) and set healthcheck.proc_path to it"
            )
        else:
            hint = (
                f"healthcheck.proc_path must name the host's /proc, mounted "
                f"read-only at {view.proc_path} (-v /proc:{view.proc_path}:ro)"
            )
        log.warning(
            "host_view_is_container",
            proc_path=view.proc_path,
            reason=view.reason,
            hint=hint,
        )
