"""CPU, memory, disk and load, checked against what the system itself reports."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from runner_agent.collectors import host
from runner_agent.collectors.host import (
    CpuSampler,
    ProcFile,
    busy_percent,
    cpu_count,
    disk_usage,
    load15,
    memory,
    parse_cpu_times,
    parse_meminfo,
)

GIB = 1024**3

MEMINFO = b"""MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:    9000000 kB
Buffers:          500000 kB
Cached:          3000000 kB
SwapCached:            0 kB
SReclaimable:     500000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def _meminfo_kib(key: str) -> int:
    with open("/proc/meminfo") as stream:
        for line in stream:
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    raise LookupError(key)


def test_cpu_count_is_the_processors_listed_in_proc_cpuinfo():
    with open("/proc/cpuinfo") as stream:
        listed = sum(1 for line in stream if line.startswith("processor"))

    assert cpu_count() == listed


def test_cpu_times_count_iowait_as_idle():
    line = b"cpu  100 10 50 800 40 0 0 0 0 0\ncpu0 1 2 3\n"

    busy, total = parse_cpu_times(line)

    assert (busy, total) == (160, 1000)


def test_busy_percent_between_two_readings():
    assert busy_percent((100, 1000), (150, 1100)) == 50.0
    assert busy_percent((100, 1000), (100, 1000)) is None


def test_cpu_sampler_mean_is_a_percentage_before_any_sample():
    sampler = CpuSampler(window=3)

    usage = sampler.mean()

    assert sampler.count == 0
    assert 0.0 <= usage <= 100.0


def test_cpu_sampler_keeps_only_the_last_window_of_samples():
    sampler = CpuSampler(window=3)

    for _ in range(5):
        time.sleep(0.02)
        sampler.sample()

    assert sampler.count <= 3
    assert 0.0 <= sampler.mean() <= 100.0


def _script_cpu_usage(monkeypatch, *percents: int) -> None:
    """Make each sample of a new sampler read the next of ``percents``.

    The kernel's /proc/stat counters cannot be scripted, so the function the
    sampler reads them through is replaced: 100 ticks pass between readings,
    ``percent`` of them busy.
    """
    readings = [(0, 0)]
    for percent in percents:
        busy, total = readings[-1]
        readings.append((busy + percent, total + 100))
    monkeypatch.setattr(host, "cpu_times", iter(readings).__next__)


def test_cpu_sampler_mean_is_over_the_last_window_of_samples(monkeypatch):
    _script_cpu_usage(monkeypatch, 10, 20, 30, 40, 50)
    sampler = CpuSampler(window=3)

    for _ in range(5):
        sampler.sample()

    assert sampler.count == 3
    assert sampler.mean() == pytest.approx(40.0)


def test_cpu_sampler_resize_keeps_the_newest_samples(monkeypatch):
    _script_cpu_usage(monkeypatch, 10, 20, 30, 40, 50)
    sampler = CpuSampler(window=5)
    for _ in range(4):
        sampler.sample()

    sampler.resize(2)
    resized_mean = sampler.mean()
    sampler.sample()

    assert sampler.window == 2
    assert resized_mean == pytest.approx(35.0)
    assert sampler.count == 2
    assert sampler.mean() == pytest.approx(45.0)


def test_memory_total_is_memtotal_of_proc_meminfo():
    expected = _meminfo_kib("MemTotal") * 1024 / GIB

    reading = memory()

    assert reading.total_gib == pytest.approx(expected)


def test_memory_used_percent_is_gopsutils_used_over_total():
    reading = parse_meminfo(MEMINFO)

    # used = total - free - buffers - (cached + sreclaimable)
    assert reading.used_percent == pytest.approx(100 * 8_000_000 / 16_000_000)


def test_memory_used_percent_agrees_with_psutils_used_field():
    reading = memory()
    system = psutil.virtual_memory()

    assert reading.used_percent == pytest.approx(
        100 * system.used / system.total, abs=2.0
    )


def test_disk_usage_matches_statvfs_as_df_computes_it():
    stats = os.statvfs("/")
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    available = stats.f_bavail * stats.f_frsize

    usage = disk_usage("/")

    assert usage.total_gib == pytest.approx(stats.f_blocks * stats.f_frsize / GIB)
    assert usage.percent == pytest.approx(100 * used / (used + available), abs=0.5)
    assert usage.inodes_total == stats.f_files


def test_disk_usage_of_a_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        disk_usage(str(tmp_path / "absent"))


def test_load_is_the_fifteen_minute_load_average():
    assert load15() == pytest.approx(os.getloadavg()[2], abs=0.05)


def test_a_kept_open_proc_file_is_rendered_afresh_on_each_read():
    uptime = ProcFile("/proc/uptime")
    first = float(uptime.read().split()[0])

    deadline = time.monotonic() + 5
    while float(uptime.read().split()[0]) == first:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    assert float(uptime.read().split()[0]) > first
