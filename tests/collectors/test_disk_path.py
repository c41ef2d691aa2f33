"""Which file system the disk figures describe."""

from __future__ import annotations

import os

from structlog.testing import capture_logs

from runner_agent.collectors.disk import DiskPath


def test_a_configured_path_is_measured(tmp_path):
    disk = DiskPath(str(tmp_path))

    reading = disk.measure()

    assert reading.usage.path == str(tmp_path)
    assert reading.source == "config"
    assert disk.warnings == {}


def test_a_missing_configured_path_falls_back_to_root_with_one_warning(tmp_path):
    missing = str(tmp_path / "docker")
    disk = DiskPath(missing)

    with capture_logs() as logs:
        readings = [disk.measure() for _ in range(3)]

    assert [r.usage.path for r in readings] == ["/"] * 3
    assert {r.source for r in readings} == {"fallback"}
    assert [entry["event"] for entry in logs] == ["disk_path_missing"]
    assert missing in disk.warnings["disk_path_missing"]


def test_a_configured_path_that_appears_is_measured_again(tmp_path):
    path = tmp_path / "docker"
    disk = DiskPath(str(path), recheck_after=0.0)
    disk.measure()
    path.mkdir()

    with capture_logs() as logs:
        reading = disk.measure()

    assert reading.source == "config"
    assert disk.warnings == {}
    assert [entry["event"] for entry in logs] == ["disk_path_found"]


def test_without_a_configured_path_the_docker_data_directory_or_root_is_used():
    reading = DiskPath("").measure()

    expected = "/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/"
    assert reading.usage.path == expected


def test_a_missing_path_is_not_looked_at_again_for_a_while(tmp_path):
    path = tmp_path / "docker"
    disk = DiskPath(str(path))
    disk.measure()
    path.mkdir()

    reading = disk.measure()

    assert reading.source == "fallback"
