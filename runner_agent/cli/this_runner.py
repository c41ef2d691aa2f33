"""Commands about this host's runner: ``status`` and ``healthcheck``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    LogLevel,
    ShowSecrets,
    StateDirOption,
    echo,
    fields,
    flags,
    load,
    print_json,
)

if TYPE_CHECKING:
    from runner_agent.config import Config


def _config(
    config_path: Path | None,
    api_url: str | None,
    state_dir: Path | None,
    log_level: str | None,
) -> Config:
    return load(
        config_path,
        flags(
            api_url=("--api-url", api_url),
            state_dir=("--state-dir", str(state_dir) if state_dir else None),
        ),
        log_level=log_level,
    )


def status(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show this runner as the control plane sees it.

    Example: runner-agent status --json
    """
    from runner_agent.context import AgentContext

    context = AgentContext(_config(config_path, api_url, state_dir, log_level))
    try:
        identity = context.identity()
        runner = context.client.get_me()
    finally:
        context.close()

    if json_output:
        print_json(
            {
                "identity": identity.to_json(show_secrets=show_secrets),
                "controlPlane": runner.to_json(show_secrets=show_secrets),
            }
        )
        return
    echo(
        fields(
            [
                ("runner", f"{runner.name} ({runner.id})"),
                ("region", runner.region),
                ("state", runner.state),
                ("unschedulable", "yes" if runner.unschedulable else "no"),
                ("last checked", runner.last_checked or "never"),
                (
                    "cpu / memory / disk",
                    _capacity(runner.cpu, runner.memory_gib, runner.disk_gib),
                ),
                (
                    "api key",
                    runner.api_key.reveal() if show_secrets else runner.api_key.masked,
                ),
            ]
        )
    )


def _capacity(cpu: float | None, memory: float | None, disk: float | None) -> str:
    def show(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:g}{unit}"

    return f"{show(cpu, '')} / {show(memory, ' GiB')} / {show(disk, ' GiB')}"


def healthcheck(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Measure this host and send one healthcheck now.

    Example: runner-agent healthcheck
    """
    from runner_agent.collectors import HostMonitor
    from runner_agent.context import AgentContext
    from runner_agent.payload import healthcheck_body

    config = _config(config_path, api_url, state_dir, log_level)
    context = AgentContext(config)
    monitor = HostMonitor(config)
    try:
        context.identity()
        monitor.collect_once()
        body = healthcheck_body(config.runner, monitor)
        started = time.monotonic()
        context.client.send_healthcheck(body)
        latency_ms = (time.monotonic() - started) * 1000
    finally:
        monitor.close()
        context.close()

    if json_output:
        print_json({"accepted": True, "latencyMs": round(latency_ms, 1), "body": body})
    else:
        echo(f"Healthcheck accepted in {latency_ms:.0f} ms.")
