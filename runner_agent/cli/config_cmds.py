"""``runner-agent config check`` and ``config show``.

Both take the shared flags and the ``[runner]`` flags of ``register``, so
they answer for such a command line: ``config show --api-url URL`` names
``flag --api-url`` as where ``api_url`` came from. ``run``'s own
``--interval`` and ``--listen`` are not among them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    DomainOption,
    Json,
    LogLevel,
    NameOption,
    ProxyUrlOption,
    RegionIdOption,
    RunnerApiUrlOption,
    SandboxClassOption,
    StateDirOption,
    TagOption,
    config_flags,
    echo,
    load,
    print_json,
    table,
)

if TYPE_CHECKING:
    from runner_agent.config import Config

app = typer.Typer(
    help="Validate or print the effective configuration.\n\n"
    "Example: runner-agent config show --api-url https://daytona.example/api",
    no_args_is_help=True,
)


@app.command("check")
def check(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    region_id: RegionIdOption = None,
    name: NameOption = None,
    tag: TagOption = None,
    sandbox_class: SandboxClassOption = None,
    domain: DomainOption = None,
    runner_api_url: RunnerApiUrlOption = None,
    proxy_url: ProxyUrlOption = None,
    json_output: Json = False,
) -> None:
    """Validate the configuration; exit 78 with the reason when it is bad.

    With --json it prints {"ok": true, ...} or {"ok": false, "error": ...};
    the exit code is the same either way.

    Example: runner-agent config check --config /etc/runner-agent/config.toml
    """
    from runner_agent.errors import ConfigError

    overrides = config_flags(
        api_url=api_url,
        state_dir=state_dir,
        region_id=region_id,
        name=name,
        tag=tag,
        sandbox_class=sandbox_class,
        domain=domain,
        runner_api_url=runner_api_url,
        proxy_url=proxy_url,
    )
    try:
        config = load(config_path, overrides, log_level=log_level)
    except ConfigError as error:
        if json_output:
            print_json(_refusal(error))
        raise

    if json_output:
        print_json({"ok": True, "file": _file(config)})
    else:
        where = _file(config) or "no file, defaults and environment"
        echo(f"configuration is valid ({where})")


def _refusal(error: Exception) -> dict[str, Any]:
    """A refused configuration as a JSON document: the reason and its key."""
    return {
        "ok": False,
        "error": str(error),
        "key": getattr(error, "key", "") or None,
        "origin": getattr(error, "origin", "") or None,
        "exitCode": getattr(error, "exit_code", 1),
    }


def _file(config: Config) -> str | None:
    return str(config.path) if config.path else None


@app.command("show")
def show(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    region_id: RegionIdOption = None,
    name: NameOption = None,
    tag: TagOption = None,
    sandbox_class: SandboxClassOption = None,
    domain: DomainOption = None,
    runner_api_url: RunnerApiUrlOption = None,
    proxy_url: ProxyUrlOption = None,
    json_output: Json = False,
) -> None:
    """Print every effective value and where it came from; keys masked.

    The source is "default", the file's path, "env NAME" or "flag --name".

    Example: runner-agent config show --region-id 0b9e... --json
    """
    overrides = config_flags(
        api_url=api_url,
        state_dir=state_dir,
        region_id=region_id,
        name=name,
        tag=tag,
        sandbox_class=sandbox_class,
        domain=domain,
        runner_api_url=runner_api_url,
        proxy_url=proxy_url,
    )
    config = load(config_path, overrides, log_level=log_level)

    from runner_agent.config.inspect import effective_values

    values = effective_values(config)
    if json_output:
        print_json(
            {
                "file": _file(config),
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
