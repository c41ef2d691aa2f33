"""The body of ``POST /runners/healthcheck`` (RunnerHealthcheck)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runner_agent import __version__
from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, RunnerConfig


def healthcheck_body(runner: RunnerConfig, monitor: HostMonitor) -> dict[str, Any]:
    """Measure now (from cached and fast values) and build the body."""
    body: dict[str, Any] = {"metrics": monitor.metrics()}
    services = monitor.service_health()
    if services:
        body["serviceHealth"] = services
    for field, value in (
        ("domain", runner.domain),
        ("proxyUrl", runner.proxy_url),
        ("apiUrl", runner.api_url),
    ):
        if value:
            body[field] = value
    body["appVersion"] = f"runner-agent/{__version__}"
    return body


@contextmanager
def measured(config: Config) -> Iterator[HostMonitor]:
    """A monitor that has measured this host once; closed on leaving."""
    monitor = HostMonitor(config)
    try:
        monitor.collect_once()
        yield monitor
    finally:
        monitor.close()


def measure_once(config: Config) -> dict[str, Any]:
    """Measure this host once, outside the daemon, and build the body."""
    with measured(config) as monitor:
        return healthcheck_body(config.runner, monitor)
