"""The local endpoint of a running daemon: liveness, readiness, status, metrics."""

from __future__ import annotations

import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.conftest import control


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_the_endpoint_reports_a_live_ready_runner(emulator, config_file, start_agent):
    agent = start_agent(config_file("[healthcheck]\ninterval = 0.3\n"))
    url = agent.local_url
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    healthz = httpx.get(f"{url}/healthz")
    readyz = httpx.get(f"{url}/readyz")
    status = httpx.get(f"{url}/status").json()
    metrics = httpx.get(f"{url}/metrics")
    missing = httpx.get(f"{url}/nope")
    post = httpx.post(f"{url}/status")
    agent.stop()

    values = samples(metrics.text)
    assert healthz.status_code == 200
    assert readyz.status_code == 200
    assert readyz.json() == {"ready": True, "reasons": []}
    assert status["identity"]["name"] == "daemon-test"
    assert status["healthcheck"]["lastAccepted"]["result"] == "accepted"
    assert status["controlPlane"]["state"] == "ready"
    assert emulator.organization_key not in metrics.text + str(status)
    assert values[("runner_agent_ready", ())] == 1.0
    assert values[("runner_agent_runner_state", (("state", "ready"),))] == 1.0
    assert values[("runner_agent_runner_state", (("state", "unresponsive"),))] == 0.0
    assert values[("runner_agent_healthchecks_total", (("result", "accepted"),))] >= 1
    assert values[("runner_agent_host_cpus", ())] >= 1
    assert ("runner_agent_last_healthcheck_success_timestamp_seconds", ()) in values
    assert any(name.startswith("runner_agent_request_duration") for name, _ in values)
    assert status["host"]["collectors"]["memory"]["ok"] is True
    assert values[("runner_agent_collector_ok", (("collector", "memory"),))] == 1.0
    assert missing.status_code == 404
    assert post.status_code == 405


def test_readyz_gives_the_reasons_it_is_not_ready(emulator, config_file, start_agent):
    control(
        emulator,
        "POST",
        "/faults",
        json={"path": "/runners/healthcheck", "status": 503, "count": -1},
    )
    agent = start_agent(config_file("[healthcheck]\ninterval = 0.3\n"))
    url = agent.local_url
    agent.wait_for("operation_failing")

    readyz = httpx.get(f"{url}/readyz")
    healthz = httpx.get(f"{url}/healthz")
    agent.stop()

    assert readyz.status_code == 503
    assert "no healthcheck accepted in the last 3 intervals" in readyz.json()["reasons"]
    assert healthz.status_code == 200


def test_the_rest_adapter_is_served_when_enabled(emulator, config_file, start_agent):
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    config.write_text(
        config.read_text().replace(
            'listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nrest = true'
        )
    )
    agent = start_agent(config)
    url = agent.local_url
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    me = httpx.get(f"{url}/v1/runners/me")
    cordon = httpx.patch(
        f"{url}/v1/runners/{me.json()['id']}/scheduling", json={"unschedulable": True}
    )
    agent.stop()

    assert me.status_code == 200
    assert me.json()["apiKey"].startswith("****")
    assert cordon.status_code == 403


def test_a_taken_port_stops_the_agent_before_it_creates_a_runner(
    emulator, config_file, start_agent
):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))

    try:
        agent = start_agent(config)
        code = agent.process.wait(timeout=15)
        agent.stop()
    finally:
        taken.close()

    lines = agent.log_text().strip().splitlines()
    assert code == 78
    assert len(lines) == 1
    assert f"local_api.listen (from {config})" in lines[0]
    assert control(emulator, "GET", "/state")["runners"] == []


def test_the_latency_histogram_covers_the_state_watch_too(
    emulator, config_file, start_agent
):
    config = config_file('[healthcheck]\ninterval = 0.3\n[watch]\ninterval = "0.2s"\n')
    agent = start_agent(config)
    url = agent.local_url
    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    metrics = httpx.get(f"{url}/metrics").text
    agent.stop()

    values = samples(metrics)
    count = "runner_agent_request_duration_seconds_count"
    # The read at start and the one right after the first accepted beat.
    assert values[(count, (("operation", "runners_me"),))] >= 2
    assert values[(count, (("operation", "healthcheck"),))] >= 1
