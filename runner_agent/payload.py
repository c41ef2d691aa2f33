"""The body of ``POST /runners/healthcheck`` (RunnerHealthcheck)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runner_agent import __version__
from runner_agent.collectors import HostMonitor
from runner_agent.config import Config, RunnerConfig
from runner_agent.state import Identity


def healthcheck_body(
    runner: RunnerConfig, monitor: HostMonitor, identity: Identity | None = None
) -> dict[str, Any]:
    """Measure now (from cached and fast values) and build the body.

    The runner's addresses come from the configuration; one it leaves empty
    comes from ``identity``, where ``register --domain`` and the like keep
    theirs.
    """
    body: dict[str, Any] = {"metrics": monitor.metrics()}
    services = monitor.service_health()
    if services:
        body["serviceHealth"] = services
    for field, value in _addresses(runner, identity).items():
        if value:
            body[field] = value
    body["appVersion"] = f"runner-agent/{__version__}"
    return body


def _addresses(runner: RunnerConfig, identity: Identity | None) -> dict[str, str]:
    """Each address as configured, or else as kept with the identity."""
    configured = {
        "domain": runner.domain,
        "proxyUrl": runner.proxy_url,
        "apiUrl": runner.api_url,
    }
    if identity is None:
        return configured
    kept = {
        "domain": identity.domain,
        "proxyUrl": identity.proxy_url,
        "apiUrl": identity.runner_api_url,
    }
    return {field: value or kept[field] for field, value in configured.items()}


@contextmanager
def measured(config: Config) -> Iterator[HostMonitor]:
    """A monitor that has measured this host once; closed on leaving."""
    monitor = HostMonitor(config)
    try:
        monitor.collect_once()
        yield monitor
    finally:
        monitor.close()


def stored_identity(config: Config) -> Identity | None:
    """This host's identity if it can be read, for the addresses it keeps.

    Best effort: a measurement must also work before registering, and for
    users who may not read the service's state directory.
    """
    from runner_agent.errors import StateError
    from runner_agent.state import StateDir

    try:
        return StateDir(config.state_dir).load_identity()
    except StateError:
        return None


def measure_once(config: Config, identity: Identity | None = None) -> dict[str, Any]:
    """Measure this host once, outside the daemon, and build the body."""
    with measured(config) as monitor:
        return healthcheck_body(config.runner, monitor, identity)
