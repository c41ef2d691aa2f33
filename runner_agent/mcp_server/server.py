"""Build the MCP server and run it over stdio or streamable HTTP.

Over stdio (the default) the client starts ``runner-agent mcp`` itself and
speaks on its standard input and output; logs go to standard error. Over
HTTP the server listens on loopback; a configured ``local_api.token`` is
then required as a bearer token on every request, without one only the
read-only tools are offered, and beyond loopback (``--allow-remote``) the
token is mandatory.
"""

from __future__ import annotations

import signal
from types import FrameType

import anyio
import structlog
from mcp.server import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from runner_agent import __version__
from runner_agent.config import Config
from runner_agent.config.values import host_port, is_loopback
from runner_agent.context import AgentContext
from runner_agent.credentials import Secret, bearer_matches
from runner_agent.errors import ConfigError
from runner_agent.mcp_server.api_tools import API_TOOLS, ApiTools
from runner_agent.mcp_server.base import ToolSet, ToolSpec
from runner_agent.mcp_server.host_tools import HOST_TOOLS, HostTools

log = structlog.get_logger(__name__)

MCP_PATH = "/mcp"

INSTRUCTIONS = """\
Tools over the Daytona runners API and over the runner of the host this
server runs on. Read before you change anything. Cordoning (scheduling
status, or runner-agent-host-cordon) is the reversible pause; draining
retires a runner for good (it becomes decommissioned); delete only a
runner that is cordoned and empty. Keys are never shown: do not ask for
them, and never put one in an argument."""


def build_server(
    context: AgentContext, *, show_secrets: bool = False, read_only: bool = False
) -> MCPServer:
    """The MCP server with the fifteen tools over ``context``.

    With ``read_only`` only the tools that change nothing are offered.
    """
    server: MCPServer = MCPServer(
        "runner-agent",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    api = ApiTools(context, show_secrets=show_secrets)
    host = HostTools(context, show_secrets=show_secrets)
    _add_tools(server, api, API_TOOLS, read_only=read_only)
    _add_tools(server, host, HOST_TOOLS, read_only=read_only)

    return server


def _add_tools(
    server: MCPServer,
    tools: ToolSet,
    specs: tuple[ToolSpec, ...],
    *,
    read_only: bool,
) -> None:
    for spec in specs:
        if read_only and not spec.read_only:
            continue
        server.add_tool(
            getattr(tools, spec.method),
            name=spec.name,
            title=spec.title,
            annotations=spec.annotations(),
            structured_output=True,
        )


def run_stdio(server: MCPServer) -> None:
    """Serve on standard input and output until the client closes them."""
    log.info("mcp_serving", transport="stdio", tools=len(API_TOOLS + HOST_TOOLS))
    anyio.run(server.run_stdio_async)


def run_http(
    server: MCPServer, config: Config, host: str, port: int, *, allow_remote: bool
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until SIGTERM.

    The command line has refused a host beyond loopback unless
    ``allow_remote``; without a token such a host is never served.
    """
    import uvicorn

    token = config.local_api.token
    if not is_loopback(host) and (token is None or not allow_remote):
        raise ConfigError(
            f"refusing to serve MCP on {host} without --allow-remote and a token",
            key="local_api.token",
        )
    app: ASGIApp = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    if token is not None:
        app = BearerGuard(app, token)
    else:
        log.warning(
            "mcp_http_without_token",
            hint="any local process can use this server, so it offers only the "
            "read-only tools; set RUNNER_AGENT_LOCAL_TOKEN to require a bearer "
            "token and offer them all",
        )

    log.info("mcp_serving", transport="http", url=_url(host, port), token=bool(token))
    settings = uvicorn.Config(
        app, host=host, port=port, log_config=None, log_level="warning"
    )
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for
    # the handler it replaced: one of ours makes that a clean exit (0).
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(settings).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("mcp_stopped")


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn's own graceful stop: nothing left to do."""


def _url(host: str, port: int) -> str:
    return f"http://{host_port(host, port)}{MCP_PATH}"


class BearerGuard:
    """An ASGI wrapper answering 401 to requests without the right token."""

    def __init__(self, app: ASGIApp, token: Secret) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await _unauthorized(send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        value = next(
            (value for name, value in headers if name.lower() == b"authorization"),
            b"",
        )
        return bearer_matches(value.decode("latin-1"), self.token)


async def _unauthorized(send: Send) -> None:
    body = b'{"error": "missing or wrong bearer token"}'
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="runner-agent"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
