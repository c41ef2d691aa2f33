"""``runner-agent metrics``: the healthcheck that would be sent, measured now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner_agent.cli.common import (
    ConfigPath,
    Json,
    LogLevel,
    echo,
    load,
    print_json,
    table,
)

if TYPE_CHECKING:
    pass

Local = Annotated[
    bool,
    typer.Option(
        "--local",
        help="Add what is shown locally only (pressure, inodes, checks, "
        "collector details); with --json: {healthcheck, local}.",
    ),
]


def metrics(
    config_path: ConfigPath = None,
    log_level: LogLevel = None,
    json_output: Json = False,
    local: Local = False,
) -> None:
    """Measure this host and print the healthcheck body; no network.

    --json prints the exact body that would be sent.

    Example: runner-agent metrics --json
    """
    config = load(config_path, log_level=log_level)

    from runner_agent.payload import healthcheck_body, measured, stored_identity

    identity = stored_identity(config)
    with measured(config) as monitor:
        body = healthcheck_body(config.runner, monitor, identity)
        report = monitor.local_report()

    if json_output:
        print_json({"healthcheck": body, "local": report} if local else body)
        return
    echo(_readable(body, report, local=local))


def _readable(body: dict[str, Any], report: dict[str, Any], *, local: bool) -> str:
    parts = [
        table(
            [[name, _show(v)] for name, v in body["metrics"].items()],
            ["metric", "value"],
        ),
        _services(body.get("serviceHealth", [])),
        _collectors(report["collectors"]),
    ]
    if local:
        parts.append(_local(report))
    if report["warnings"]:
        parts.append("\n".join(f"warning: {text}" for text in report["warnings"]))
    parts.append(f"appVersion {body['appVersion']}")
    return "\n\n".join(parts)


def _services(services: list[dict[str, Any]]) -> str:
    if not services:
        return "services: none reported"
    rows = [
        [
            entry["serviceName"],
            "healthy" if entry["healthy"] else "UNHEALTHY",
            entry.get("errorReason", ""),
        ]
        for entry in services
    ]
    return table(rows, ["service", "health", "reason"])


def _collectors(collectors: dict[str, Any]) -> str:
    rows = [
        [
            name,
            "-" if not state["runs"] else f"{state['lastDurationMs']:.3f}",
            "ok" if state["ok"] else state["error"] or "not run",
        ]
        for name, state in collectors.items()
    ]
    return table(rows, ["collector", "took ms", "status"])


def _local(report: dict[str, Any]) -> str:
    disk = report["disk"]
    rows = [
        ["disk path", f"{disk['path']} ({disk['source']})"],
        ["inodes used %", _show(disk["inodesUsedPercent"])],
        ["docker", f"{report['docker']['state']} ({report['docker']['socket']})"],
        ["gpu", f"{report['gpu']['count']} via {report['gpu']['source']}"],
        ["proc is the host's", _show(report["hostView"]["procIsHost"])],
    ]
    for resource, figures in report["pressure"].items():
        shown = (
            figures["unavailable"]
            if "unavailable" in figures
            else f"some {figures.get('someAvg10', 0):.2f}% (10s) "
            f"{figures.get('someAvg60', 0):.2f}% (60s)"
        )
        rows.append([f"pressure {resource}", shown])
    for check in report["checks"]:
        scope = "local" if check["localOnly"] else "reported"
        rows.append([f"check {check['name']} ({scope})", _check_state(check)])
    return table(rows, ["local", "value"])


def _check_state(check: dict[str, Any]) -> str:
    if check["healthy"] is None:
        return "unknown"
    if check["healthy"]:
        return "healthy"
    return f"UNHEALTHY: {check['errorReason']}"


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
