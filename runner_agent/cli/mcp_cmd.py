"""``runner-agent mcp``: the runners API and this host as tools for AI agents.

Over stdio by default, for an MCP client that starts the command itself;
over streamable HTTP with ``--http``. The MCP SDK is an optional extra,
imported only here and only when the command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated

import typer

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    LogLevel,
    StateDirOption,
    load,
)
from runner_agent.cli.flags import flags

if TYPE_CHECKING:
    from runner_agent.config import Config

DEFAULT_LISTEN = "127.0.0.1:9714"


def mcp(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    http: Annotated[
        bool,
        typer.Option("--http", help="Serve streamable HTTP instead of stdio."),
    ] = False,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help=f"host:port for --http (default {DEFAULT_LISTEN}).",
            show_default=False,
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow --listen beyond loopback (requires the local token).",
        ),
    ] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Put keys unmasked in tool results (they reach the model).",
        ),
    ] = False,
) -> None:
    """Serve the runners API and this host's runner as MCP tools.

    Example: runner-agent mcp --http --listen 127.0.0.1:9714
    """
    from runner_agent.errors import UsageError

    if listen is not None and not http:
        raise UsageError("--listen needs --http (stdio is the default transport)")
    address = _address(listen or DEFAULT_LISTEN) if http else None
    config = load(
        config_path,
        flags(
            api_url=("--api-url", api_url),
            state_dir=("--state-dir", state_dir),
        ),
        log_level=log_level,
        quiet=False,
    )
    if address is not None:
        check_http_exposure(address[0], config, allow_remote=allow_remote)
    _require_sdk()
    _serve(config, address, allow_remote=allow_remote, show_secrets=show_secrets)


def check_http_exposure(host: str, config: Config, *, allow_remote: bool) -> None:
    """Serve beyond loopback only when asked to, and never without a token."""
    from runner_agent.config.values import is_loopback
    from runner_agent.errors import ConfigError, UsageError

    if is_loopback(host):
        return
    if not allow_remote:
        raise UsageError(
            f"refusing to serve MCP on {host}, beyond loopback: anyone who "
            "reaches it acts with this host's keys; pass --allow-remote "
            "(a local token is then required)"
        )
    if config.local_api.token is None:
        raise ConfigError(
            "serving MCP beyond loopback needs a bearer token: set "
            "local_api.token_file or RUNNER_AGENT_LOCAL_TOKEN",
            key="local_api.token",
        )


def _serve(
    config: Config,
    address: tuple[str, int] | None,
    *,
    allow_remote: bool,
    show_secrets: bool,
) -> None:
    from runner_agent.context import AgentContext
    from runner_agent.mcp_server.server import build_server, run_http, run_stdio

    context = AgentContext(config)
    try:
        # Over HTTP without a token any local user could change runners:
        # only the read-only tools are offered then, as the REST adapter
        # refuses its changes.
        read_only = address is not None and config.local_api.token is None
        server = build_server(context, show_secrets=show_secrets, read_only=read_only)
        if address is None:
            run_stdio(server)
        else:
            host, port = address
            run_http(server, config, host, port, allow_remote=allow_remote)
    finally:
        context.close()


def _require_sdk() -> None:
    from runner_agent.errors import RunnerAgentError

    try:
        importlib.import_module("mcp")
    except ImportError:
        raise RunnerAgentError(
            "the MCP server needs the MCP SDK: pip install 'runner-agent[mcp]'"
        ) from None


def _address(listen: str) -> tuple[str, int]:
    from runner_agent.config.values import listen_address
    from runner_agent.errors import UsageError

    try:
        address = listen_address(listen)
    except ValueError as error:
        raise UsageError(f"--listen: {error}") from None
    if address is None:
        raise UsageError("--listen: give host:port, for example 127.0.0.1:9714")
    return address
