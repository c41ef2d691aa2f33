"""``runner-agent doctor``: the agent's own checks, each with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    StateDirOption,
    echo,
    print_json,
)
from runner_agent.cli.flags import flags

if TYPE_CHECKING:
    from runner_agent.config import Config
    from runner_agent.doctor import Check

_MARKS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def doctor(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    json_output: Json = False,
) -> None:
    """Check what usually goes wrong on a runner host and say how to fix it.

    Configuration, keys and file permissions, the control plane (reachable,
    TLS, keys accepted, clock skew), this runner's identity and state, the
    local agent, Docker and the disk. Exits 0 when nothing failed
    (warnings allowed), 1 otherwise.

    Example: sudo runner-agent doctor
    """
    from runner_agent import logs
    from runner_agent.config import load_config
    from runner_agent.doctor import run_checks

    overrides = flags(
        api_url=("--api-url", api_url),
        state_dir=("--state-dir", state_dir),
    )

    def load() -> Config:
        return load_config(config_path, flags=overrides)

    logs.configure_logging("error", "auto")
    checks = run_checks(load)

    if json_output:
        print_json(
            {
                "ok": not _failed(checks),
                "checks": [check.to_json() for check in checks],
            }
        )
    else:
        echo(_report(checks))
    if _failed(checks):
        raise typer.Exit(1)


def _failed(checks: list[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


def _report(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        mark = _MARKS[check.status]
        lines.append(f"{mark:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status in ("warn", "fail"):
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failures = sum(check.status == "fail" for check in checks)
    warnings = sum(check.status == "warn" for check in checks)
    lines.append("")
    lines.append(f"{failures} failed, {warnings} warning(s), {len(checks)} checks")
    return "\n".join(lines)
