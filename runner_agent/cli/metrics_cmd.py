"""``runner-agent metrics``: the healthcheck that would be sent, measured now."""

from __future__ import annotations

from runner_agent.cli.common import (
    ConfigPath,
    Json,
    LogLevel,
    echo,
    load,
    print_json,
    table,
)


def metrics(
    config_path: ConfigPath = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Measure this host and print the healthcheck body; no network.

    Example: runner-agent metrics --json
    """
    config = load(config_path, log_level=log_level)

    from runner_agent.collectors import HostMonitor
    from runner_agent.payload import healthcheck_body

    monitor = HostMonitor(config)
    try:
        monitor.collect_once()
        body = healthcheck_body(config.runner, monitor)
    finally:
        monitor.close()

    if json_output:
        print_json(body)
        return
    rows = [[name, _show(value)] for name, value in body["metrics"].items()]
    echo(table(rows, ["metric", "value"]))
    for service in body.get("serviceHealth", []):
        state = (
            "healthy"
            if service["healthy"]
            else f"UNHEALTHY: {service.get('errorReason', '')}"
        )
        echo(f"service {service['serviceName']}: {state}")
    echo(f"appVersion {body['appVersion']}")


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
