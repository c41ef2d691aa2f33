"""``runner-agent metrics`` end to end, against the fake Docker daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from daytona_api_client.models import RunnerHealthcheck

GIB = 1024**3


@pytest.fixture
def run_metrics(fake_docker, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
        [docker]
        socket = "{fake_docker.socket}"

        [[checks]]
        name = "always"
        command = "true"

        [[checks]]
        name = "never"
        command = ["sh", "-c", "echo broken; exit 1"]
        local_only = true
        """
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAYTONA_", "RUNNER_AGENT_", "CREDENTIALS_"))
    }
    env["RUNNER_AGENT_CONFIG"] = str(config)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner_agent", "metrics", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def test_metrics_json_is_exactly_the_body_that_would_be_sent(fake_docker, run_metrics):
    fake_docker.images = 3
    fake_docker.add("running", NanoCpus=2_000_000_000, Memory=4 * GIB)

    result = run_metrics("--json")

    body = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert set(body) == {"metrics", "serviceHealth", "appVersion"}
    assert body["metrics"]["currentAllocatedCpu"] == 2.0
    assert body["metrics"]["currentSnapshotCount"] == 3
    assert body["serviceHealth"] == [
        {"serviceName": "docker", "healthy": True},
        {"serviceName": "always", "healthy": True},
    ]
    assert RunnerHealthcheck.from_dict(body).additional_properties == {}


def test_metrics_json_local_adds_the_local_report(run_metrics):
    result = run_metrics("--json", "--local")

    document = json.loads(result.stdout)
    assert set(document) == {"healthcheck", "local"}
    checks = {c["name"]: c for c in document["local"]["checks"]}
    assert checks["never"]["healthy"] is False
    assert checks["never"]["errorReason"] == "exit status 1: broken"
    assert "docker" in document["local"]["collectors"]


def test_metrics_reads_as_tables_with_services_and_timings(run_metrics):
    result = run_metrics("--local")

    assert result.returncode == 0, result.stderr
    assert "currentCpuUsagePercentage" in result.stdout
    assert "docker   healthy" in result.stdout
    assert "collector  took ms" in result.stdout
    assert "check never (local)" in result.stdout
