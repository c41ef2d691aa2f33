"""What one healthcheck's host collection costs, against a floor.

The floor is the least any Python program could do for the same figures,
measured in the same run: read /proc/stat, /proc/meminfo and /proc/loadavg
and statvfs the disk path, splitting each into fields. psutil alone (CPU
times, virtual memory, disk usage, load) is shown for reference. The agent
is measured as a beat does it (``healthcheck_body``: cached CPU mean and
Docker figures, plus memory, disk and load read now), and as a full
collection (the beat plus the CPU sample taken in the background, one
/proc/stat read). Docker is absent (the socket points at a missing path),
no GPU is looked for, no check is configured.

Each figure is the median, over many repeats, of the mean time per call in
a repeat, the repeats of all candidates interleaved. The ratios use the
process's CPU time (user and system, ``time.process_time_ns``), which other
work on a shared machine does not inflate; wall-clock time
(``time.perf_counter_ns``) is shown beside it.

    $ .venv/bin/python bench/collection.py
    host collection: median of 41 repeats x 500 calls, disk path /
    candidate                               CPU/call vs floor  wall/call vs floor
    floor (/proc reads + statvfs)            38.0 us    1.00x    38.0 us    1.00x
    psutil alone                             69.3 us    1.82x    69.3 us    1.82x
    runner-agent beat (healthcheck_body)     26.6 us    0.70x    26.6 us    0.70x
    runner-agent full collection             40.4 us    1.06x    40.8 us    1.07x
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import psutil

from runner_agent import logs
from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, RunnerConfig
from runner_agent.payload import healthcheck_body

Candidate = tuple[str, Callable[[], object]]


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 16384)
    finally:
        os.close(fd)


def floor(disk_path: str) -> Callable[[], object]:
    def collect() -> object:
        stat = _read("/proc/stat")
        return (
            stat[: stat.index(b"\n")].split(),
            _read("/proc/meminfo").split(),
            _read("/proc/loadavg").split(),
            os.statvfs(disk_path),
        )

    return collect


def psutil_alone(disk_path: str) -> Callable[[], object]:
    def collect() -> object:
        return (
            psutil.cpu_times(),
            psutil.virtual_memory(),
            psutil.disk_usage(disk_path),
            os.getloadavg(),
        )

    return collect


def agent(monitor: HostMonitor, *, with_cpu_sample: bool) -> Callable[[], object]:
    runner = RunnerConfig()

    def beat() -> object:
        return healthcheck_body(runner, monitor)

    def collection() -> object:
        monitor.sample_cpu()
        return healthcheck_body(runner, monitor)

    return collection if with_cpu_sample else beat


def measure(
    candidates: list[Candidate], calls: int, repeats: int
) -> list[tuple[float, float]]:
    """Per candidate: median CPU and wall nanoseconds per call over repeats."""
    cpu: list[list[float]] = [[] for _ in candidates]
    wall: list[list[float]] = [[] for _ in candidates]
    for _ in range(repeats):
        for index, (_, run) in enumerate(candidates):
            gc.collect()
            cpu_start, wall_start = time.process_time_ns(), time.perf_counter_ns()
            for _ in range(calls):
                run()
            cpu[index].append((time.process_time_ns() - cpu_start) / calls)
            wall[index].append((time.perf_counter_ns() - wall_start) / calls)
    return [
        (statistics.median(c), statistics.median(w))
        for c, w in zip(cpu, wall, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=41)
    args = parser.parse_args()
    logs.configure_logging("warning", "console")

    with tempfile.TemporaryDirectory() as scratch:
        base = Config()
        config = dataclasses.replace(
            base,
            docker=dataclasses.replace(base.docker, socket=f"{scratch}/no.sock"),
        )
        monitor = HostMonitor(config)
        monitor.docker.refresh()
        # The steady state: the CPU window holds samples, the disk path is known.
        time.sleep(0.25)
        monitor.sample_cpu()
        monitor.metrics()
        disk_path = monitor.last_disk().usage.path
        candidates: list[Candidate] = [
            ("floor (/proc reads + statvfs)", floor(disk_path)),
            ("psutil alone", psutil_alone(disk_path)),
            (
                "runner-agent beat (healthcheck_body)",
                agent(monitor, with_cpu_sample=False),
            ),
            ("runner-agent full collection", agent(monitor, with_cpu_sample=True)),
        ]
        medians = measure(candidates, args.calls, args.repeats)
        monitor.close()

    print(
        f"host collection: median of {args.repeats} repeats x {args.calls} calls, "
        f"disk path {disk_path}"
    )
    header = ("candidate", "CPU/call", "vs floor", "wall/call", "vs floor")
    print("{:<38} {:>9} {:>8} {:>10} {:>8}".format(*header))
    floor_cpu, floor_wall = medians[0]
    for (name, _), (cpu, wall) in zip(candidates, medians, strict=True):
        print(
            f"{name:<38} {cpu / 1000:>6.1f} us {cpu / floor_cpu:>7.2f}x "
            f"{wall / 1000:>7.1f} us {wall / floor_wall:>7.2f}x"
        )


if __name__ == "__main__":
    main()
