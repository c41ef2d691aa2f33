"""``runner-agent config check`` and ``config show``."""

from __future__ import annotations

from typing import Any

import typer

from runner_agent.cli.common import ConfigPath, Json, echo, load, print_json, table

app = typer.Typer(
    help="Validate or print the effective configuration.", no_args_is_help=True
)


@app.command("check")
def check(config_path: ConfigPath = None) -> None:
    """Validate the configuration; exit 78 with the reason when it is bad.

    Example: runner-agent config check --config /etc/runner-agent/config.toml
    """
    config = load(config_path)
    where = str(config.path) if config.path else "no file, defaults and environment"
    echo(f"configuration is valid ({where})")


@app.command("show")
def show(config_path: ConfigPath = None, json_output: Json = False) -> None:
    """Print every effective value and where it came from; keys masked.

    Example: runner-agent config show --json
    """
    config = load(config_path)

    from runner_agent.config.inspect import effective_values

    values = effective_values(config)
    if json_output:
        print_json(
            {
                "file": str(config.path) if config.path else None,
                "values": {
                    key: {"value": value, "origin": origin}
                    for key, value, origin in values
                },
            }
        )
        return
    echo(f"# file: {config.path or 'none'}")
    echo(
        table(
            [[key, _show(value), origin] for key, value, origin in values],
            ["key", "value", "from"],
        )
    )


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "[]"
    return '""' if value == "" else str(value)
