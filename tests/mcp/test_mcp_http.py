"""``runner-agent mcp --http``: streamable HTTP on loopback, behind the token.

The server is started with a proxy key the control plane refuses, so the
proxy look-ups come back as tool errors (401) while the rest keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp import servers

LOCAL_TOKEN = "local-token-for-the-mcp-tests"
REFUSED_PROXY_KEY = "dtn_this_proxy_key_is_not_known_0000"


@dataclass
class Transcript:
    """What the server listed and answered over HTTP, by label."""

    tools: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def http_server(server_env, host_runner, tmp_path_factory):
    env = server_env(
        DAYTONA_RUNNER_TOKEN=host_runner.key,
        DAYTONA_PROXY_API_KEY=REFUSED_PROXY_KEY,
        RUNNER_AGENT_LOCAL_TOKEN=LOCAL_TOKEN,
    )
    log = tmp_path_factory.mktemp("mcp-http") / "stderr.log"
    with servers.http_server(env, log) as server:
        yield server


async def _scenario(url: str, transcript: Transcript, host_id: str) -> None:
    headers = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        await session.initialize()
        transcript.tools = [tool.name for tool in (await session.list_tools()).tools]

        async def call(label: str, tool: str, **arguments: Any) -> None:
            transcript.results[label] = await session.call_tool(tool, arguments)

        await call("list", "daytona-list-all-runners")
        await call("full", "daytona-get-runner-full-by-id", runner_id=host_id)
        await call("list after the refusal", "daytona-list-all-runners")
        await call("host status", "runner-agent-host-status")


@pytest.fixture(scope="module")
def transcript(http_server, host_runner) -> Transcript:
    recorded = Transcript()
    anyio.run(_scenario, http_server.url, recorded, host_runner.id)
    return recorded


def test_http_serves_every_tool(transcript):
    assert len(transcript.tools) == 15
    assert "daytona-get-runner-full-by-id" in transcript.tools


def test_a_refused_key_is_a_tool_error_and_the_session_goes_on(transcript):
    refused = transcript.results["full"]
    after = transcript.results["list after the refusal"]

    assert refused.is_error
    assert "401" in refused.content[0].text
    assert "Invalid API key" in refused.content[0].text
    assert not after.is_error
    assert after.structured_content["runners"]


def test_runner_key_tools_work_over_http(transcript, host_runner):
    status = transcript.results["host status"]

    assert not status.is_error
    assert status.structured_content["controlPlane"]["id"] == host_runner.id


def test_no_http_result_shows_a_key(transcript, emulator, host_runner, said):
    text = said(list(transcript.results.values()))

    for key in (emulator.organization_key, host_runner.key, REFUSED_PROXY_KEY):
        assert key not in text


def test_http_refuses_a_request_without_the_token(http_server, transcript):
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

    missing = httpx.post(http_server.url, json=initialize, timeout=30)
    wrong = httpx.post(
        http_server.url,
        json=initialize,
        headers={"Authorization": "Bearer not-the-token"},
        timeout=30,
    )

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")


def test_http_server_stops_cleanly_on_sigterm(http_server, transcript):
    http_server.process.terminate()

    assert http_server.process.wait(timeout=30) == 0


async def _list_tools(url: str) -> list[Any]:
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        await session.initialize()
        return list((await session.list_tools()).tools)


def test_http_without_a_token_offers_only_the_read_only_tools(
    server_env, host_runner, tmp_path
):
    env = server_env(DAYTONA_RUNNER_TOKEN=host_runner.key)

    with servers.http_server(env, tmp_path / "stderr.log") as server:
        tools = anyio.run(_list_tools, server.url)

    names = {tool.name for tool in tools}
    assert all(tool.annotations.read_only_hint for tool in tools)
    assert "daytona-list-all-runners" in names
    assert "daytona-delete-runner" not in names
    assert "runner-agent-host-cordon" not in names
    assert "read-only tools" in (tmp_path / "stderr.log").read_text()
