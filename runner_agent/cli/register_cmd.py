"""``runner-agent register``: create this host's runner, once."""

from __future__ import annotations

from typing import Annotated

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    LogLevel,
    StateDirOption,
    echo,
    fields,
    flags,
    load,
    print_json,
)


def register(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    region_id: Annotated[
        str | None,
        typer.Option(help="Region to create the runner in.", show_default=False),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Runner name [default: the host name].", show_default=False),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="A tag for the runner (repeatable).", show_default=False
        ),
    ] = None,
    sandbox_class: Annotated[
        str | None,
        typer.Option(help="container, linux-vm or windows.", show_default=False),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(help="Domain reported in healthchecks.", show_default=False),
    ] = None,
    runner_api_url: Annotated[
        str | None,
        typer.Option(
            help="The runner's API URL, reported in healthchecks.", show_default=False
        ),
    ] = None,
    proxy_url: Annotated[
        str | None,
        typer.Option(
            help="The runner's proxy URL, reported in healthchecks.", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Register anew when the stored runner no longer exists."),
    ] = False,
    json_output: Json = False,
) -> None:
    """Create this host's runner and keep its identity; safe to run on every boot.

    Example: runner-agent register --region-id 0b9e... --name gpu-host-17
    """
    config = load(
        config_path,
        flags(
            api_url=("--api-url", api_url),
            state_dir=("--state-dir", str(state_dir) if state_dir else None),
            runner__region_id=("--region-id", region_id),
            runner__name=("--name", name),
            runner__tags=("--tag", list(tag) if tag else None),
            runner__sandbox_class=("--sandbox-class", sandbox_class),
            runner__domain=("--domain", domain),
            runner__api_url=("--runner-api-url", runner_api_url),
            runner__proxy_url=("--proxy-url", proxy_url),
        ),
        log_level=log_level,
    )

    from runner_agent.context import AgentContext
    from runner_agent.daemon.startup import registration_request
    from runner_agent.registration import register as register_runner

    context = AgentContext(config)
    try:
        request = registration_request(config)
        result = register_runner(context.client, context.state, request, force=force)
    finally:
        context.close()

    identity = result.identity
    if json_output:
        print_json(
            {
                "created": result.created,
                "removedOrphan": result.removed_orphan,
                "replaced": result.replaced,
                "identity": identity.to_json(),
                "stateDir": str(context.state.path),
            }
        )
        return
    if result.created:
        echo(f"Registered runner {identity.name} ({identity.runner_id}).")
    else:
        runner = f"{identity.name} ({identity.runner_id})"
        echo(f"Already registered as runner {runner}; nothing changed.")
    echo(
        fields(
            [
                ("region", identity.region_id),
                ("identity", context.state.file("identity.json")),
                ("removed orphan", result.removed_orphan),
            ]
        )
    )
