"""HostMonitor: the payload's contract, partial payloads and the local report."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
from daytona_api_client.models import (
    RunnerHealthcheck,
    RunnerHealthMetrics,
    RunnerServiceHealth,
)
from structlog.testing import capture_logs

from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, HealthcheckConfig, RunnerConfig
from runner_agent.config.checks import CheckConfig
from runner_agent.payload import healthcheck_body

REQUIRED_METRICS = {
    "currentCpuLoadAverage",
    "currentCpuUsagePercentage",
    "currentMemoryUsagePercentage",
    "currentDiskUsagePercentage",
    "currentAllocatedCpu",
    "currentAllocatedMemoryGiB",
    "currentAllocatedDiskGiB",
    "currentSnapshotCount",
    "currentStartedSandboxes",
    "cpu",
    "memoryGiB",
    "diskGiB",
}
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _keys(document) -> set[str]:
    if isinstance(document, dict):
        return set(document) | {k for v in document.values() for k in _keys(v)}
    if isinstance(document, list):
        return {k for item in document for k in _keys(item)}
    return set()


@pytest.fixture
def monitor(short_dir):
    config = Config(
        docker=dataclasses.replace(Config().docker, socket=str(short_dir / "no.sock"))
    )
    monitor = HostMonitor(config)
    yield monitor
    monitor.close()


def test_metrics_parse_with_the_strict_api_model(monitor):
    metrics = monitor.metrics()

    parsed = RunnerHealthMetrics.from_dict(metrics)
    assert set(metrics) == REQUIRED_METRICS
    assert parsed.additional_properties == {}
    assert parsed.cpu >= 1
    assert 0 <= parsed.current_cpu_usage_percentage <= 100


def test_a_whole_healthcheck_body_parses_with_the_strict_api_model(monitor):
    monitor.collect_once()

    body = healthcheck_body(RunnerConfig(domain="runner.example"), monitor)

    parsed = RunnerHealthcheck.from_dict(body)
    assert parsed.additional_properties == {}
    assert parsed.metrics.additional_properties == {}
    assert parsed.domain == "runner.example"


def test_a_failing_collector_leaves_zero_before_any_good_value(monitor, monkeypatch):
    def unreadable():
        raise PermissionError(13, "Permission denied", "/proc/meminfo")

    monkeypatch.setattr(monitor.proc, "memory", unreadable)

    metrics = monitor.metrics()

    assert metrics["currentMemoryUsagePercentage"] == 0
    assert metrics["memoryGiB"] == 0
    assert metrics["cpu"] >= 1
    assert RunnerHealthMetrics.from_dict(metrics).additional_properties == {}


def test_a_failing_collector_keeps_its_last_good_value(monitor, monkeypatch):
    good = monitor.metrics()

    def unreadable():
        raise PermissionError(13, "Permission denied", "/proc/meminfo")

    monkeypatch.setattr(monitor.proc, "memory", unreadable)
    failing = monitor.metrics()

    assert failing["memoryGiB"] == good["memoryGiB"]
    assert (
        failing["currentMemoryUsagePercentage"] == good["currentMemoryUsagePercentage"]
    )
    report = monitor.local_report()
    assert report["collectors"]["memory"]["ok"] is False
    assert "Permission denied" in report["collectors"]["memory"]["error"]
    assert any("memory collector failing" in text for text in report["warnings"])


def test_a_failure_streak_is_logged_once_and_its_end_once(monitor, monkeypatch):
    def unreadable():
        raise OSError(5, "Input/output error")

    with capture_logs() as logs:
        monkeypatch.setattr(monitor.proc, "memory", unreadable)
        for _ in range(5):
            monitor.metrics()
        monkeypatch.undo()
        monitor.metrics()
        monitor.metrics()

    events = [entry["event"] for entry in logs if entry.get("collector") == "memory"]
    assert events == ["collector_failed", "collector_recovered"]


def test_the_local_report_is_json_with_camel_case_keys(monitor):
    monitor.collect_once()
    monitor.metrics()

    report = monitor.local_report()

    json.dumps(report)
    assert not {key for key in _keys(report) if not _CAMEL.match(key)}
    assert set(report["pressure"]) == {"cpu", "memory", "io"}
    assert report["disk"]["inodesTotal"] >= 0


def test_jobs_are_named_and_paced_by_the_configuration(short_dir):
    config = Config(
        healthcheck=HealthcheckConfig(cpu_sample_interval=2.0),
        docker=dataclasses.replace(Config().docker, refresh_interval=7.0),
    )
    monitor = HostMonitor(config)

    jobs = {job.name: job for job in monitor.jobs()}

    assert set(jobs) == {"host-cpu", "host-docker", "host-gpu"}
    assert jobs["host-cpu"].interval == 2.0
    assert jobs["host-cpu"].run_at_start is False
    assert jobs["host-docker"].interval == 7.0
    assert jobs["host-docker"].run_at_start is True


def test_a_check_job_exists_only_when_checks_are_configured(short_dir):
    check = CheckConfig(name="true", kind="command", command=("true",), interval=4.0)
    monitor = HostMonitor(Config(checks=(check,)))

    jobs = {job.name: job for job in monitor.jobs()}

    assert jobs["host-checks"].interval == 1.0


def test_reconfigure_takes_new_checks_and_window(monitor):
    check = CheckConfig(name="true", kind="command", command=("true",))
    new = dataclasses.replace(
        monitor.config,
        healthcheck=HealthcheckConfig(cpu_window=5),
        checks=(check,),
    )

    monitor.reconfigure(new)
    monitor.collect_once()

    assert monitor.cpu.window == 5
    assert monitor.service_health() == [{"serviceName": "true", "healthy": True}]
    assert RunnerServiceHealth.from_dict(monitor.service_health()[0]).healthy


def test_the_one_shot_cpu_sample_spans_a_second_before_any_check_runs(
    short_dir, tmp_path, monkeypatch
):
    started_file = tmp_path / "check-started"
    check = CheckConfig(
        name="mark",
        kind="command",
        command=("sh", "-c", f"date +%s.%N > {started_file}"),
    )
    config = Config(
        docker=dataclasses.replace(Config().docker, socket=str(short_dir / "no.sock")),
        checks=(check,),
    )
    monitor = HostMonitor(config)
    created = time.time()
    sampled = []
    sample = monitor.cpu.sample

    def noted_sample():
        # Still the real sample; only the moment it is taken is noted.
        sampled.append(time.time())
        sample()

    monkeypatch.setattr(monitor.cpu, "sample", noted_sample)

    monitor.collect_once()
    monitor.close()

    assert len(sampled) == 1
    assert sampled[0] - created >= 0.9
    assert float(started_file.read_text()) >= sampled[0]
    assert monitor.cpu.count == 1
