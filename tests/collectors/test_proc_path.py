"""healthcheck.proc_path: every host figure comes from the proc root it names.

A directory built here stands in for the host's /proc mounted into a
container: its stat, meminfo, loadavg and pressure files hold known figures
of a four-CPU host with 32 GiB, which this machine is not, so a figure that
matches them can only have come from them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, HealthcheckConfig, load_config
from runner_agent.errors import ConfigError

GIB = 1024**3
CPUS = 4
# 32 GiB, of which 8 free, 1 buffers, 4 cached, 1 reclaimable: 18 GiB used.
MEMINFO = """\
MemTotal:       33554432 kB
MemFree:         8388608 kB
MemAvailable:   14680064 kB
Buffers:         1048576 kB
Cached:          4194304 kB
SwapCached:            0 kB
Active:          9000000 kB
Inactive:        5000000 kB
SReclaimable:    1048576 kB
SUnreclaim:       200000 kB
"""
LOADAVG = "5.00 4.00 3.00 7/412 98765\n"
PRESSURE = {
    "cpu": "some avg10=12.50 avg60=8.25 avg300=4.00 total=9876543\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "memory": "some avg10=1.00 avg60=0.50 avg300=0.25 total=1234\n"
    "full avg10=0.75 avg60=0.25 avg300=0.10 total=567\n",
    "io": "some avg10=3.00 avg60=2.00 avg300=1.00 total=4321\n"
    "full avg10=2.00 avg60=1.00 avg300=0.50 total=321\n",
}


class FakeProc:
    """A proc root in a directory, written as the kernel lays the files out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pressure").mkdir(parents=True)
        (root / "meminfo").write_text(MEMINFO)
        (root / "loadavg").write_text(LOADAVG)
        for resource, text in PRESSURE.items():
            (root / "pressure" / resource).write_text(text)
        self.write_stat(busy=40_000, idle=360_000, iowait=0)

    def write_stat(self, busy: int, idle: int, iowait: int) -> None:
        """Counters since boot; written in place, as readers keep it open."""
        share = [busy // CPUS, idle // CPUS, iowait // CPUS]
        lines = [_cpu_line("cpu ", busy, idle, iowait)]
        lines += [_cpu_line(f"cpu{n}", *share) for n in range(CPUS)]
        lines += ["intr 123456 0 0 0", "ctxt 987654", "btime 1700000000"]
        lines += ["processes 4242", "procs_running 3", "procs_blocked 0"]
        (self.root / "stat").write_text("\n".join(lines) + "\n")


def _cpu_line(name: str, busy: int, idle: int, iowait: int) -> str:
    # Busy time split over user and system; nice, irq, softirq, steal 0.
    user, system = busy * 3 // 4, busy - busy * 3 // 4
    return f"{name} {user} 0 {system} {idle} {iowait} 0 0 0 0 0"


@pytest.fixture
def fake_proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "host" / "proc")


def _config(proc_path: str, short_dir: Path) -> Config:
    docker = dataclasses.replace(Config().docker, socket=str(short_dir / "no.sock"))
    return Config(healthcheck=HealthcheckConfig(proc_path=proc_path), docker=docker)


@pytest.fixture
def monitor(fake_proc, short_dir):
    monitor = HostMonitor(_config(str(fake_proc.root), short_dir))
    yield monitor
    monitor.close()


def test_memory_comes_from_the_configured_meminfo(monitor):
    metrics = monitor.metrics()

    assert metrics["memoryGiB"] == 32.0
    assert metrics["currentMemoryUsagePercentage"] == 56.25


def test_cpu_count_is_the_cpun_lines_of_the_configured_stat(monitor):
    assert monitor.metrics()["cpu"] == CPUS


def test_load_is_the_configured_fifteen_minute_load_per_cpu(monitor):
    assert monitor.metrics()["currentCpuLoadAverage"] == 0.75


def test_cpu_usage_is_measured_between_two_written_samples(monitor, fake_proc):
    # 1000 ticks later: 300 busy, 600 idle and 100 waiting on IO (idle too).
    fake_proc.write_stat(busy=40_300, idle=360_600, iowait=100)

    monitor.sample_cpu()

    assert monitor.cpu.count == 1
    assert monitor.metrics()["currentCpuUsagePercentage"] == 30.0


def test_pressure_comes_from_the_configured_root(monitor):
    pressure = monitor.local_report()["pressure"]

    assert pressure["cpu"]["someAvg10"] == 12.5
    assert pressure["memory"]["fullAvg10"] == 0.75
    assert pressure["io"]["someAvg300"] == 1.0


def test_a_root_of_copied_files_is_flagged_as_not_the_hosts_view(monitor, fake_proc):
    report = monitor.local_report()

    assert report["hostView"]["procPath"] == str(fake_proc.root)
    assert report["hostView"]["procIsHost"] is False
    assert any("not proc" in warning for warning in report["warnings"])


def test_a_root_not_mounted_yet_fails_its_collectors_and_keeps_zeros(
    tmp_path, short_dir
):
    absent = str(tmp_path / "absent")
    with capture_logs() as logs:
        monitor = HostMonitor(_config(absent, short_dir))

    metrics = monitor.metrics()
    report = monitor.local_report()
    monitor.close()

    (warning,) = [e for e in logs if e["event"] == "host_view_is_container"]
    assert warning["proc_path"] == absent
    assert f"-v /proc:{absent}:ro" in warning["hint"]
    assert metrics["memoryGiB"] == 0
    assert metrics["currentCpuLoadAverage"] == 0
    assert report["collectors"]["memory"]["ok"] is False
    assert report["hostView"]["procIsHost"] is False
    assert "cannot be read" in report["hostView"]["reason"]


def test_a_reload_moves_every_figure_to_the_new_root(fake_proc, short_dir):
    monitor = HostMonitor(_config("/proc", short_dir))
    before = monitor.metrics()

    new = _config(str(fake_proc.root), short_dir)
    monitor.reconfigure(new)
    fake_proc.write_stat(busy=40_500, idle=360_500, iowait=0)
    monitor.sample_cpu()
    after = monitor.metrics()
    monitor.close()

    assert before["memoryGiB"] != 32.0
    assert after["memoryGiB"] == 32.0
    assert after["cpu"] == CPUS
    assert after["currentCpuUsagePercentage"] == 50.0
    assert monitor.host_view.proc_path == str(fake_proc.root)


def _meminfo_kib(key: str) -> int:
    with open("/proc/meminfo") as stream:
        for line in stream:
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    raise LookupError(key)


def test_by_default_the_figures_are_this_hosts_proc(short_dir):
    monitor = HostMonitor(_config("/proc", short_dir))
    with open("/proc/cpuinfo") as stream:
        listed = sum(1 for line in stream if line.startswith("processor"))

    metrics = monitor.metrics()
    view = monitor.host_view
    monitor.close()

    assert metrics["cpu"] == listed
    assert metrics["memoryGiB"] == pytest.approx(
        _meminfo_kib("MemTotal") * 1024 / GIB, abs=0.01
    )
    assert view.proc_path == "/proc"
    assert view.proc_is_host is True


def test_a_link_to_this_hosts_proc_gives_the_same_figures(tmp_path, short_dir):
    link = tmp_path / "host-proc"
    link.symlink_to("/proc")
    through_link = HostMonitor(_config(str(link), short_dir))
    direct = HostMonitor(_config("/proc", short_dir))

    linked, plain = through_link.metrics(), direct.metrics()
    view = through_link.host_view
    through_link.close()
    direct.close()

    assert linked["cpu"] == plain["cpu"]
    assert linked["memoryGiB"] == plain["memoryGiB"]
    assert view.proc_is_host is True


def test_the_proc_path_can_come_from_the_environment():
    config = load_config(None, env={"RUNNER_AGENT_PROC_PATH": "/host/proc"})

    assert config.healthcheck.proc_path == "/host/proc"
    assert str(config.origin("healthcheck.proc_path")) == "env RUNNER_AGENT_PROC_PATH"


def test_a_relative_proc_path_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[healthcheck]\nproc_path = "host/proc"\n')

    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})

    assert "absolute" in str(refused.value)
    assert "healthcheck.proc_path" in str(refused.value)
