"""``status``, ``healthcheck`` and ``metrics`` through the command line."""

from __future__ import annotations

import json

from daytona_api_client.models import RunnerHealthcheck


def register(cli, env, emulator) -> None:
    result = cli("register", "--region-id", emulator.region_id, env=env)
    assert result.returncode == 0, result.stderr


def test_healthcheck_then_status_shows_a_ready_runner(cli, agent_env, emulator):
    register(cli, agent_env, emulator)

    sent = cli("healthcheck", "--json", env=agent_env)
    status = cli("status", "--json", env=agent_env)

    body = json.loads(sent.stdout)["body"]
    seen = json.loads(status.stdout)
    assert sent.returncode == 0
    assert status.returncode == 0
    assert RunnerHealthcheck.from_dict(body).additional_properties == {}
    assert seen["controlPlane"]["state"] == "ready"
    assert seen["controlPlane"]["apiKey"].startswith("****")


def test_status_before_registering_exits_5(cli, agent_env):
    result = cli("status", env=agent_env)

    assert result.returncode == 5
    assert "runner-agent register" in result.stderr


def test_status_with_a_refused_runner_key_exits_4(cli, agent_env):
    env = {**agent_env, "DAYTONA_RUNNER_TOKEN": "dtn_not_a_runner_key_000"}

    result = cli("status", env=env)

    assert result.returncode == 4
    assert "dtn_not_a_runner_key_000" not in result.stderr


def test_metrics_needs_no_network_and_prints_a_valid_body(cli, agent_env):
    env = {**agent_env, "DAYTONA_API_URL": "http://192.0.2.1:9/api"}

    result = cli("metrics", "--json", env=env, timeout=30)

    body = json.loads(result.stdout)
    parsed = RunnerHealthcheck.from_dict(body)
    assert result.returncode == 0
    assert parsed.metrics.cpu >= 1
    assert 0 <= parsed.metrics.current_memory_usage_percentage <= 100
