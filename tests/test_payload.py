"""The healthcheck body: what it reports about the runner's addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, RunnerConfig
from runner_agent.credentials import Secret
from runner_agent.payload import healthcheck_body
from runner_agent.state import Identity

STORED = Identity(
    runner_id="5f0c3d8e-0000-4000-8000-000000000001",
    token=Secret("dtn_runner_key_0123456789"),
    domain="stored.runners.example",
    runner_api_url="https://stored.runners.example:3003",
    proxy_url="https://stored-proxy.runners.example",
)


@pytest.fixture
def monitor() -> Iterator[HostMonitor]:
    monitor = HostMonitor(Config())
    yield monitor
    monitor.close()


def test_the_identity_s_addresses_are_reported_when_the_configuration_has_none(
    monitor,
):
    body = healthcheck_body(RunnerConfig(), monitor, STORED)

    assert body["domain"] == "stored.runners.example"
    assert body["apiUrl"] == "https://stored.runners.example:3003"
    assert body["proxyUrl"] == "https://stored-proxy.runners.example"


def test_a_configured_address_wins_over_the_identity_s(monitor):
    runner = RunnerConfig(domain="configured.example", proxy_url="https://p.example")

    body = healthcheck_body(runner, monitor, STORED)

    assert body["domain"] == "configured.example"
    assert body["proxyUrl"] == "https://p.example"
    assert body["apiUrl"] == "https://stored.runners.example:3003"


def test_without_an_identity_only_the_configured_addresses_are_reported(monitor):
    body = healthcheck_body(RunnerConfig(domain="configured.example"), monitor)

    assert body["domain"] == "configured.example"
    assert "apiUrl" not in body
    assert "proxyUrl" not in body
