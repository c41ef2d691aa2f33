"""Telling a /proc that shows the host from one that shows only a container."""

from __future__ import annotations

import shutil

from runner_agent.collectors import hostview
from runner_agent.collectors.hostview import (
    detect_host_view,
    filesystem_at,
    memory_limit,
    overlaid_proc_files,
)

ROOT_MOUNT = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
# The host's /proc given to a container read-only, with optional fields.
HOST_PROC_MOUNT = "900 27 0:21 / /host/proc ro,relatime master:5 - proc proc rw\n"
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


def test_lxcfs_over_the_containers_proc_does_not_touch_a_host_proc_mount():
    mountinfo = LXCFS_MOUNTINFO + HOST_PROC_MOUNT

    assert overlaid_proc_files(mountinfo, "/host/proc") == []


def test_lxcfs_over_a_host_proc_mount_is_found():
    over = "1130 900 0:49 /proc/meminfo /host/proc/meminfo ro - fuse.lxcfs lxcfs rw\n"

    found = overlaid_proc_files(HOST_PROC_MOUNT + over, "/host/proc")

    assert found == ["/host/proc/meminfo"]


def test_the_file_system_of_a_path_is_that_of_its_deepest_mount():
    mountinfo = ROOT_MOUNT + LXCFS_MOUNTINFO + HOST_PROC_MOUNT

    assert filesystem_at(mountinfo, "/host/proc") == "proc"
    assert filesystem_at(mountinfo, "/host/procfs") == "ext4"
    assert filesystem_at(mountinfo, "/proc/meminfo") == "fuse.lxcfs"
    assert filesystem_at(mountinfo, "/proc/cpuinfo") == "proc"


def test_escaped_mount_points_are_read_as_written():
    mountinfo = ROOT_MOUNT + "90 27 0:60 / /host\\040root/proc ro - proc proc rw\n"

    assert filesystem_at(mountinfo, "/host root/proc") == "proc"


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
    monkeypatch.setattr(hostview, "overlaid_proc_files", lambda text, root: [])
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


def test_this_host_judged_through_a_link_to_its_proc_sees_itself(tmp_path):
    link = tmp_path / "host-proc"
    link.symlink_to("/proc")

    view = detect_host_view(str(link))

    assert view.proc_is_host is True
    assert view.proc_path == str(link)


def test_copies_of_proc_files_are_not_the_hosts_view(tmp_path):
    copies = tmp_path / "proc"
    copies.mkdir()
    shutil.copy("/proc/meminfo", copies / "meminfo")

    view = detect_host_view(str(copies))

    assert view.proc_is_host is False
    assert "not proc" in view.reason


def test_a_configured_proc_path_that_is_not_mounted_says_so(tmp_path):
    view = detect_host_view(str(tmp_path / "host" / "proc"))

    assert view.proc_is_host is False
    assert view.reason.endswith("meminfo cannot be read: No such file or directory")
