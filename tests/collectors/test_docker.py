"""Docker figures from a real HTTP server on a unix socket speaking the Engine API."""

from __future__ import annotations

import os
import threading
import time

import pytest
from daytona_api_client.models import RunnerHealthcheck, RunnerServiceHealth

from runner_agent.collectors import HostMonitor
from runner_agent.collectors.containers import container_limits, storage_size_bytes
from runner_agent.config import RunnerConfig
from runner_agent.payload import healthcheck_body

GIB = 1024**3


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def monitor_for(config_for):
    monitors = []

    def make(socket: str, **overrides) -> HostMonitor:
        monitor = HostMonitor(config_for(socket, **overrides))
        monitors.append(monitor)
        return monitor

    yield make
    for monitor in monitors:
        monitor.close()


def _sandboxes(docker) -> None:
    docker.images = 7
    docker.add(
        "running",
        CpuQuota=200_000,
        CpuPeriod=100_000,
        Memory=4 * GIB,
        StorageOpt={"size": "10G"},
    )
    docker.add("running", NanoCpus=1_500_000_000, Memory=2 * GIB)
    docker.add(
        "exited",
        CpuQuota=400_000,
        CpuPeriod=100_000,
        Memory=8 * GIB,
        StorageOpt={"size": "5G"},
    )


def test_allocations_sum_running_limits_and_every_containers_disk(
    fake_docker, monitor_for
):
    _sandboxes(fake_docker)
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()
    metrics = monitor.metrics()

    assert metrics["currentAllocatedCpu"] == 3.5
    assert metrics["currentAllocatedMemoryGiB"] == 6.0
    assert metrics["currentAllocatedDiskGiB"] == 15.0
    assert metrics["currentStartedSandboxes"] == 2
    assert metrics["currentSnapshotCount"] == 7


def test_a_healthy_docker_is_reported_as_the_docker_service(fake_docker, monitor_for):
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()
    services = monitor.service_health()

    assert services == [{"serviceName": "docker", "healthy": True}]
    parsed = RunnerServiceHealth.from_dict(services[0])
    assert parsed.additional_properties == {}


def test_the_label_filter_counts_only_labelled_containers(fake_docker, monitor_for):
    fake_docker.add("running", {"daytona.sandbox": "true"}, NanoCpus=2_000_000_000)
    fake_docker.add("running", {}, NanoCpus=4_000_000_000)
    monitor = monitor_for(fake_docker.socket, sandbox_label="daytona.sandbox=true")

    monitor.docker.refresh()
    metrics = monitor.metrics()

    assert metrics["currentAllocatedCpu"] == 2.0
    assert metrics["currentStartedSandboxes"] == 1


def test_a_container_removed_mid_refresh_is_skipped_and_counted(
    fake_docker, monitor_for
):
    fake_docker.add("running", NanoCpus=1_000_000_000)
    fake_docker.ghosts.append("gone" * 16)
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()

    assert monitor.metrics()["currentStartedSandboxes"] == 1
    assert monitor.local_report()["docker"]["vanishedDuringRefresh"] == 1
    assert monitor.service_health()[0]["healthy"] is True


def test_healthchecks_read_the_cache_until_the_next_refresh(fake_docker, monitor_for):
    fake_docker.add("running", NanoCpus=1_000_000_000)
    monitor = monitor_for(fake_docker.socket)
    monitor.docker.refresh()
    fake_docker.add("running", NanoCpus=3_000_000_000)
    requests_before = len(fake_docker.requests)

    cached = monitor.metrics()["currentAllocatedCpu"]
    monitor.docker.refresh()

    assert cached == 1.0
    assert len(fake_docker.requests) > requests_before
    assert monitor.metrics()["currentAllocatedCpu"] == 4.0


def test_a_hung_daemon_never_delays_a_healthcheck(fake_docker, monitor_for):
    _sandboxes(fake_docker)
    monitor = monitor_for(fake_docker.socket, timeout=1.0)
    monitor.docker.refresh()
    before = len(fake_docker.requests)
    fake_docker.hang.set()
    refresh = threading.Thread(target=monitor.docker.refresh)
    refresh.start()
    _wait_until(lambda: len(fake_docker.requests) > before)

    started = time.perf_counter()
    body = healthcheck_body(RunnerConfig(), monitor)
    took = time.perf_counter() - started
    refresh.join(timeout=10)

    assert took < 0.5
    assert body["metrics"]["currentAllocatedCpu"] == 3.5
    assert body["metrics"]["currentSnapshotCount"] == 7
    assert not refresh.is_alive()


def test_a_hung_daemon_is_reported_unhealthy_with_cached_values_flagged_stale(
    fake_docker, monitor_for
):
    _sandboxes(fake_docker)
    monitor = monitor_for(fake_docker.socket, timeout=0.3)
    monitor.docker.refresh()
    fake_docker.hang.set()

    monitor.docker.refresh()
    body = healthcheck_body(RunnerConfig(), monitor)
    report = monitor.local_report()

    assert body["serviceHealth"] == [
        {
            "serviceName": "docker",
            "healthy": False,
            "errorReason": "Docker did not answer within 0.3s",
        }
    ]
    assert body["metrics"]["currentAllocatedMemoryGiB"] == 6.0
    assert report["docker"]["stale"] is True
    assert report["collectors"]["docker"]["ok"] is False
    parsed = RunnerHealthcheck.from_dict(body)
    assert parsed.service_health[0].additional_properties == {}


def test_stopped_containers_are_listed_for_their_disk(fake_docker, monitor_for):
    fake_docker.add("running", StorageOpt={"size": "10G"})
    fake_docker.add("exited", StorageOpt={"size": "5G"})
    fake_docker.add("created", StorageOpt={"size": "1G"})
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()
    metrics = monitor.metrics()

    assert metrics["currentAllocatedDiskGiB"] == 16.0
    assert metrics["currentStartedSandboxes"] == 1
    assert monitor.local_report()["docker"]["containers"] == 3


def test_a_steady_host_costs_one_listing_per_refresh(fake_docker, monitor_for):
    fake_docker.add_many(50, NanoCpus=1_000_000_000)
    monitor = monitor_for(fake_docker.socket)
    monitor.docker.refresh()
    first = len(fake_docker.requests)

    monitor.docker.refresh()

    assert len(fake_docker.inspections()) == 50
    assert fake_docker.requests[first:] == ["/_ping", "/info", "/containers/json"]
    assert monitor.metrics()["currentAllocatedCpu"] == 50.0


def test_only_new_containers_are_inspected_and_removed_ones_forgotten(
    fake_docker, monitor_for
):
    kept = fake_docker.add("running", NanoCpus=1_000_000_000)
    removed = fake_docker.add("running", NanoCpus=2_000_000_000)
    monitor = monitor_for(fake_docker.socket)
    monitor.docker.refresh()
    del fake_docker.containers[removed]
    added = fake_docker.add("running", NanoCpus=4_000_000_000)

    monitor.docker.refresh()

    assert fake_docker.inspections() == [kept, removed, added]
    assert monitor.metrics()["currentAllocatedCpu"] == 5.0
    assert monitor.local_report()["docker"]["containersKnown"] == 2


def test_a_container_that_changed_state_is_inspected_again(fake_docker, monitor_for):
    # A sandbox stopped, resized and started again: same id, new limits.
    sandbox = fake_docker.add("exited", Memory=GIB)
    monitor = monitor_for(fake_docker.socket)
    monitor.docker.refresh()
    fake_docker.containers[sandbox] = ("running", {}, {"Memory": 2 * GIB})

    monitor.docker.refresh()

    assert fake_docker.inspections() == [sandbox, sandbox]
    assert monitor.metrics()["currentAllocatedMemoryGiB"] == 2.0


def test_a_scan_out_of_time_keeps_docker_healthy_and_the_figures_stale(
    fake_docker, monitor_for
):
    _sandboxes(fake_docker)
    monitor = monitor_for(fake_docker.socket, timeout=0.5)
    monitor.docker.refresh()
    fake_docker.add_many(30, NanoCpus=1_000_000_000)
    fake_docker.inspect_delay = 0.05

    monitor.docker.refresh()
    services = monitor.service_health()
    cpu = monitor.metrics()["currentAllocatedCpu"]
    report = monitor.local_report()

    assert services == [{"serviceName": "docker", "healthy": True}]
    assert cpu == 3.5
    assert report["docker"]["stale"] is True
    assert "0.5s" in report["docker"]["scanError"]
    assert "of 30 containers inspected" in report["docker"]["scanError"]
    assert any(
        text.startswith("Docker figures are stale") for text in report["warnings"]
    )


def test_a_scan_out_of_time_carries_on_at_the_next_refresh(fake_docker, monitor_for):
    fake_docker.add_many(30, NanoCpus=1_000_000_000)
    fake_docker.inspect_delay = 0.05
    monitor = monitor_for(fake_docker.socket, timeout=0.5)

    monitor.docker.refresh()
    refreshes = 1
    while monitor.docker.stale(time.monotonic()):
        assert refreshes < 20, "the scan never completed"
        monitor.docker.refresh()
        refreshes += 1

    # Each refresh cut short may ask again for the one it was waiting on.
    assert refreshes > 1
    assert len(fake_docker.inspections()) < 30 + refreshes
    assert monitor.metrics()["currentAllocatedCpu"] == 30.0
    assert monitor.local_report()["docker"]["scanError"] is None


def test_a_slow_inspection_is_reported_with_the_configured_timeout(
    fake_docker, monitor_for
):
    fake_docker.add("running", NanoCpus=1_000_000_000)
    fake_docker.inspect_delay = 5.0
    monitor = monitor_for(fake_docker.socket, timeout=0.3)

    monitor.docker.refresh()

    assert monitor.local_report()["docker"]["scanError"] == (
        "Docker did not answer within 0.3s (0 of 1 containers inspected; "
        "the rest follow on the next refresh)"
    )
    assert monitor.service_health() == [{"serviceName": "docker", "healthy": True}]


def test_figures_not_refreshed_for_three_intervals_are_flagged_stale(
    fake_docker, monitor_for
):
    _sandboxes(fake_docker)
    monitor = monitor_for(fake_docker.socket, refresh_interval=0.2)
    monitor.docker.refresh()

    fresh = monitor.local_report()["docker"]
    time.sleep(3 * 0.2 + 0.1)
    aged = monitor.local_report()["docker"]

    assert (fresh["state"], fresh["stale"]) == ("ok", False)
    assert (aged["state"], aged["stale"]) == ("ok", True)
    assert aged["ageSeconds"] >= 0.6
    assert monitor.service_health() == [{"serviceName": "docker", "healthy": True}]


def test_a_missing_socket_reports_zeros_and_no_docker_service(short_dir, monitor_for):
    monitor = monitor_for(str(short_dir / "missing.sock"))

    monitor.docker.refresh()
    metrics = monitor.metrics()

    assert monitor.service_health() == []
    assert metrics["currentStartedSandboxes"] == 0
    assert metrics["currentSnapshotCount"] == 0
    assert monitor.local_report()["docker"]["state"] == "absent"


def test_a_missing_socket_is_unhealthy_when_docker_is_required(short_dir, monitor_for):
    socket = str(short_dir / "missing.sock")
    monitor = monitor_for(socket, required=True)

    monitor.docker.refresh()

    assert monitor.service_health() == [
        {
            "serviceName": "docker",
            "healthy": False,
            "errorReason": f"no Docker socket at {socket}",
        }
    ]


def test_a_socket_that_disappears_after_docker_answered_is_unhealthy(
    fake_docker, monitor_for
):
    fake_docker.add("running", Memory=GIB)
    monitor = monitor_for(fake_docker.socket)
    monitor.docker.refresh()
    os.unlink(fake_docker.socket)

    monitor.docker.refresh()

    service = monitor.service_health()[0]
    assert service["healthy"] is False
    assert "is gone" in service["errorReason"]
    assert monitor.metrics()["currentAllocatedMemoryGiB"] == 1.0


def test_a_socket_that_accepts_nothing_is_unhealthy(short_dir, monitor_for):
    import socket as sockets

    path = str(short_dir / "dead.sock")
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(path)
    listener.close()
    monitor = monitor_for(path)

    monitor.docker.refresh()

    service = monitor.service_health()[0]
    assert service["healthy"] is False
    assert service["errorReason"] == "cannot reach Docker: connection refused"


def test_a_socket_the_agent_may_not_open_is_not_reported_unless_required(
    fake_docker, monitor_for, monkeypatch
):
    os.chmod(fake_docker.socket, 0)
    if os.geteuid() == 0:
        # Root may open any socket: the refusal an unprivileged agent gets
        # is simulated.
        monkeypatch.setattr(os, "access", lambda path, mode: False)
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()

    assert monitor.service_health() == []
    assert monitor.local_report()["docker"]["state"] == "forbidden"


def test_docker_root_dir_is_the_disk_path_when_visible(
    fake_docker, monitor_for, tmp_path
):
    fake_docker.root_dir = str(tmp_path)
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()
    monitor.metrics()
    disk = monitor.local_report()["disk"]

    assert disk["path"] == str(tmp_path)
    assert disk["source"] == "docker"


def test_a_docker_root_dir_out_of_sight_falls_back_with_a_warning(
    fake_docker, monitor_for
):
    fake_docker.root_dir = "/nonexistent/docker-data"
    monitor = monitor_for(fake_docker.socket)

    monitor.docker.refresh()
    monitor.metrics()
    report = monitor.local_report()

    assert report["disk"]["source"] in ("default", "root")
    assert any("/nonexistent/docker-data" in text for text in report["warnings"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10G", 10 * GIB),
        ("10g", 10 * GIB),
        ("10GB", 10 * GIB),
        ("10GiB", 10 * GIB),
        ("512m", 512 * 1024**2),
        ("1.5G", int(1.5 * GIB)),
        ("1073741824", GIB),
        ("", 0),
        ("ten", 0),
    ],
)
def test_storage_sizes_are_binary_units_as_docker_parses_them(text, expected):
    assert storage_size_bytes(text) == expected


def test_cpu_quota_counts_over_its_period_and_nano_cpus_otherwise():
    assert container_limits({"CpuQuota": 50_000, "CpuPeriod": 50_000})[0] == 1.0
    assert container_limits({"CpuQuota": 300_000})[0] == 3.0
    assert container_limits({"NanoCpus": 500_000_000})[0] == 0.5
    assert container_limits({})[0] == 0.0
