"""Telling a /proc that shows the host from one that shows only a container."""

from __future__ import annotations

from runner_agent.collectors import hostview
from runner_agent.collectors.hostview import (
    detect_host_view,
    memory_limit,
    overlaid_proc_files,
)

LXCFS_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
1120 22 0:49 /proc/meminfo /proc/meminfo rw,nosuid - fuse.lxcfs lxcfs rw
1121 22 0:49 /proc/stat /proc/stat rw,nosuid - fuse.lxcfs lxcfs rw
1122 22 0:49 /proc/uptime /proc/uptime rw,nosuid - fuse.lxcfs lxcfs rw
"""


def test_lxcfs_mounts_over_proc_files_are_found():
    assert overlaid_proc_files(LXCFS_MOUNTINFO) == ["/proc/meminfo", "/proc/stat"]


def test_a_plain_proc_mount_overlays_nothing():
    assert overlaid_proc_files(LXCFS_MOUNTINFO.splitlines()[0]) == []


def test_the_cgroup_v2_memory_limit_is_read(tmp_path, monkeypatch):
    group = tmp_path / "system.slice" / "agent.service"
    group.mkdir(parents=True)
    (group / "memory.max").write_text("2147483648\n")
    monkeypatch.setattr(hostview, "_CGROUP_ROOT", tmp_path)

    assert memory_limit("0::/system.slice/agent.service\n") == 2147483648


def test_an_unlimited_cgroup_has_no_memory_limit(tmp_path, monkeypatch):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "memory.max").write_text("max\n")
    monkeypatch.setattr(hostview, "_CGROUP_ROOT", tmp_path)

    assert memory_limit("4:memory:/\n0::/\n") is None


def test_memtotal_equal_to_the_containers_limit_means_a_virtual_proc(
    tmp_path, monkeypatch
):
    with open("/proc/meminfo") as stream:
        total_kib = int(stream.readline().split()[1])
    (tmp_path / "memory.max").write_text(f"{total_kib * 1024}\n")
    monkeypatch.setattr(hostview, "_CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(hostview, "overlaid_proc_files", lambda text: [])
    real_read = hostview.read_proc
    monkeypatch.setattr(
        hostview,
        "read_proc",
        lambda path: b"0::/\n" if path == "/proc/self/cgroup" else real_read(path),
    )

    view = detect_host_view()

    assert view.proc_is_host is False
    assert "memory limit" in view.reason


def test_this_host_sees_its_own_proc():
    view = detect_host_view()

    assert view.proc_is_host is True
