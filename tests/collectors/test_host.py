"""CPU, memory, disk and load, checked against what the system itself reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from runner_agent.collectors.host import (
    CpuSampler,
    HostProc,
    ProcFile,
    busy_percent,
    disk_usage,
    parse_cpu_count,
    parse_cpu_times,
    parse_load15,
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

    assert HostProc().cpu_count() == listed


def test_cpu_count_agrees_with_the_online_cpus_os_cpu_count_gives():
    assert HostProc().cpu_count() == os.cpu_count()


def test_cpu_count_is_the_cpun_lines_of_stat():
    stat = b"cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1\ncpu1 1\ncpu7 1\nctxt 5\n"

    assert parse_cpu_count(stat) == 3


def test_a_stat_without_cpun_lines_is_an_error():
    with pytest.raises(ValueError, match="no cpuN line"):
        parse_cpu_count(b"cpu  1 2 3 4 5 6 7 8\nctxt 5\n")


def test_load15_is_the_third_field_of_loadavg():
    assert parse_load15(b"0.52 0.58 1.25 2/467 12345\n") == 1.25


def test_a_short_loadavg_is_an_error():
    with pytest.raises(ValueError, match="fewer than three"):
        parse_load15(b"0.52 0.58\n")


def test_cpu_times_count_iowait_as_idle():
    line = b"cpu  100 10 50 800 40 0 0 0 0 0\ncpu0 1 2 3\n"

    busy, total = parse_cpu_times(line)

    assert (busy, total) == (160, 1000)


def test_busy_percent_between_two_readings():
    assert busy_percent((100, 1000), (150, 1100)) == 50.0
    assert busy_percent((100, 1000), (100, 1000)) is None


def test_cpu_sampler_mean_is_a_percentage_before_any_sample():
    sampler = CpuSampler(window=3, proc=HostProc())

    usage = sampler.mean()

    assert sampler.count == 0
    assert 0.0 <= usage <= 100.0


def test_the_mean_before_any_sample_does_not_count_the_cpus_again():
    proc = HostProc()
    counted = []
    real_count = proc.cpu_count

    def counting() -> int:
        counted.append(1)
        return real_count()

    sampler = CpuSampler(window=3, proc=proc, cpus=2)
    # Instrumented, not faked: the real count still runs, and is counted.
    proc.cpu_count = counting  # type: ignore[method-assign]
    for _ in range(3):
        sampler.mean()

    assert counted == []


def test_cpu_sampler_keeps_only_the_last_window_of_samples():
    sampler = CpuSampler(window=3, proc=HostProc())

    for _ in range(5):
        time.sleep(0.02)
        sampler.sample()

    assert sampler.count <= 3
    assert 0.0 <= sampler.mean() <= 100.0


class ScriptedStat:
    """A proc root whose stat file is rewritten before each sample.

    The kernel's counters cannot be scripted, so a directory stands in for
    /proc: each :meth:`advance` writes the next reading in place (the
    sampler keeps the file open), 100 ticks later, ``percent`` of them busy.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.busy = self.total = 0
        root.mkdir(exist_ok=True)
        self._write()

    def advance(self, percent: int) -> None:
        self.busy += percent
        self.total += 100
        self._write()

    def _write(self) -> None:
        idle = self.total - self.busy
        line = f"cpu  {self.busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0\n"
        (self.root / "stat").write_text(line)


def _sample(sampler: CpuSampler, stat: ScriptedStat, *percents: int) -> None:
    for percent in percents:
        stat.advance(percent)
        sampler.sample()


def test_cpu_sampler_mean_is_over_the_last_window_of_samples(tmp_path):
    stat = ScriptedStat(tmp_path / "proc")
    sampler = CpuSampler(window=3, proc=HostProc(str(stat.root)))

    _sample(sampler, stat, 10, 20, 30, 40, 50)

    assert sampler.count == 3
    assert sampler.mean() == pytest.approx(40.0)


def test_cpu_sampler_resize_keeps_the_newest_samples(tmp_path):
    stat = ScriptedStat(tmp_path / "proc")
    sampler = CpuSampler(window=5, proc=HostProc(str(stat.root)))
    _sample(sampler, stat, 10, 20, 30, 40)

    sampler.resize(2)
    resized_mean = sampler.mean()
    _sample(sampler, stat, 50)

    assert sampler.window == 2
    assert resized_mean == pytest.approx(35.0)
    assert sampler.count == 2
    assert sampler.mean() == pytest.approx(45.0)


def test_cpu_sampler_over_a_missing_root_starts_with_its_first_reading(tmp_path):
    root = tmp_path / "proc"
    sampler = CpuSampler(window=3, proc=HostProc(str(root)))
    assert sampler.mean() == 0.0
    stat = ScriptedStat(root)

    _sample(sampler, stat, 10, 30)

    assert sampler.count == 1
    assert sampler.mean() == pytest.approx(30.0)


def test_memory_total_is_memtotal_of_proc_meminfo():
    expected = _meminfo_kib("MemTotal") * 1024 / GIB

    reading = HostProc().memory()

    assert reading.total_gib == pytest.approx(expected)


def test_memory_used_percent_is_gopsutils_used_over_total():
    reading = parse_meminfo(MEMINFO)

    # used = total - free - buffers - (cached + sreclaimable)
    assert reading.used_percent == pytest.approx(100 * 8_000_000 / 16_000_000)


def test_memory_used_percent_agrees_with_psutils_used_field():
    reading = HostProc().memory()
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
    assert HostProc().load15() == pytest.approx(os.getloadavg()[2], abs=0.05)


def test_a_kept_open_proc_file_is_rendered_afresh_on_each_read():
    uptime = ProcFile("/proc/uptime")
    first = float(uptime.read().split()[0])

    deadline = time.monotonic() + 5
    while float(uptime.read().split()[0]) == first:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    assert float(uptime.read().split()[0]) > first
