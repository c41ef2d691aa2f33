"""``runner-agent register``: create this host's runner, once."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

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
    fields,
    load,
    print_json,
)

if TYPE_CHECKING:
    from runner_agent.context import AgentContext
    from runner_agent.models import Runner
    from runner_agent.registration import RegistrationRequest
    from runner_agent.state import Identity

DEFAULT_READY_TIMEOUT = 120.0


def register(
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
    force: Annotated[
        bool,
        typer.Option(
            help="Register anew when the stored runner was deleted or is "
            "decommissioned (a decommissioned one is deleted first)."
        ),
    ] = False,
    wait_ready: Annotated[
        bool,
        typer.Option(
            "--wait-ready",
            help="Then wait for the first accepted healthcheck (state ready).",
        ),
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            help="How long --wait-ready waits: seconds, or 30s, 5m (default: 2m).",
            show_default=False,
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Create this host's runner and keep its identity; safe to run on every boot.

    On a host that is registered already and whose runner still exists it
    changes nothing and says so. --domain, --runner-api-url and --proxy-url
    are kept with the identity and reported in healthchecks whenever the
    configuration leaves them empty. The organization key comes from
    DAYTONA_API_KEY, DAYTONA_API_KEY_FILE, api_key_file or the systemd
    credential daytona-api-key.

    Example: runner-agent register --region-id 0b9e... --name gpu-host-17
    """
    config = load(
        config_path,
        config_flags(
            api_url=api_url,
            state_dir=state_dir,
            region_id=region_id,
            name=name,
            tag=tag,
            sandbox_class=sandbox_class,
            domain=domain,
            runner_api_url=runner_api_url,
            proxy_url=proxy_url,
        ),
        log_level=log_level,
    )

    from runner_agent.cli.lifecycle_cmds import wait_seconds
    from runner_agent.context import AgentContext
    from runner_agent.daemon.startup import registration_request
    from runner_agent.registration import register as register_runner

    limit = wait_seconds(timeout, DEFAULT_READY_TIMEOUT)
    context = AgentContext(config)
    try:
        # Only addresses given as flags are kept with the identity: one from
        # the configuration file is reported from there, and stops being
        # reported once it is removed from the file.
        request = replace(
            registration_request(config),
            domain=config.runner.domain if domain is not None else "",
            runner_api_url=config.runner.api_url if runner_api_url is not None else "",
            proxy_url=config.runner.proxy_url if proxy_url is not None else "",
        )
        result = register_runner(context.client, context.state, request, force=force)
        ready = _wait_ready(context, limit) if wait_ready else None
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
                "state": ready.state if ready else None,
            }
        )
        return
    if result.created:
        echo(f"Registered runner {identity.name} ({identity.runner_id}).")
    else:
        runner = f"{identity.name} ({identity.runner_id})"
        echo(f"Already registered as runner {runner}; nothing changed.")
        if config.runner.name and config.runner.name != identity.name:
            echo(
                f"(the name asked for, {config.runner.name}, is not used: this host "
                "keeps its runner until runner-agent deregister)"
            )
        ignored = _not_kept(request, identity)
        if ignored:
            echo(
                f"({', '.join(ignored)} not kept: the identity keeps what the first "
                "register was given; set them in the [runner] section of the "
                "configuration, which takes precedence)"
            )
    echo(
        fields(
            [
                ("region", identity.region_id),
                ("identity", context.state.file("identity.json")),
                ("removed orphan", result.removed_orphan),
                ("state", ready.state if ready else None),
            ]
        )
    )


def _not_kept(request: RegistrationRequest, identity: Identity) -> list[str]:
    """The address flags given now that differ from those the identity keeps."""
    return [
        flag
        for flag, given, kept in (
            ("--domain", request.domain, identity.domain),
            ("--runner-api-url", request.runner_api_url, identity.runner_api_url),
            ("--proxy-url", request.proxy_url, identity.proxy_url),
        )
        if given and given != kept
    ]


def _wait_ready(context: AgentContext, limit: float) -> Runner:
    """Follow the new runner until a healthcheck (the daemon's) is accepted."""
    from runner_agent.cli.lifecycle_cmds import follow as following
    from runner_agent.lifecycle import wait_for_state

    with following("waiting for the first healthcheck", context) as follow:
        return wait_for_state(
            context.client.get_me,
            "ready",
            timeout=limit,
            poll=2.0,
            first_poll=0.25,
            on_progress=follow,
            hint="no healthcheck was accepted; is the service running? "
            "(systemctl status runner-agent)",
        )
