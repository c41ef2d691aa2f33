"""The tools called in-process: key masking and refusals before harm."""

from __future__ import annotations

import os

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from runner_agent.config import load_config
from runner_agent.context import AgentContext
from runner_agent.credentials import Secret, mask
from runner_agent.mcp_server.api_tools import ApiTools
from runner_agent.mcp_server.host_tools import HostTools
from runner_agent.mcp_server.server import build_server
from runner_agent.state import Identity, StateDir


@pytest.fixture
def context_for(emulator, tmp_path):
    made: list[AgentContext] = []

    def make(**env: str) -> AgentContext:
        environment = {
            "RUNNER_AGENT_CONFIG": os.devnull,
            "DAYTONA_API_URL": emulator.url,
            "DAYTONA_API_KEY": emulator.organization_key,
            "DAYTONA_PROXY_API_KEY": emulator.proxy_key,
            "RUNNER_AGENT_STATE_DIR": str(tmp_path / "state"),
            **env,
        }
        context = AgentContext(load_config(env=environment))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def test_keys_are_masked_unless_the_server_shows_secrets(context_for, host_runner):
    masked = ApiTools(context_for()).get_runner_full(host_runner.id)
    shown = ApiTools(context_for(), show_secrets=True).get_runner_full(host_runner.id)

    assert masked["apiKey"] == mask(host_runner.key)
    assert shown["apiKey"] == host_runner.key


def test_create_refuses_before_creating_when_the_key_cannot_be_kept(
    context_for, emulator, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    tools = ApiTools(context_for(RUNNER_AGENT_STATE_DIR=str(blocker / "state")))

    with pytest.raises(ToolError) as refused:
        tools.create_runner(region_id=emulator.region_id, name="never-created")

    names = {runner["name"] for runner in tools.list_runners()["runners"]}
    assert "never-created" not in names
    assert "cannot create the state directory" in str(refused.value)


def test_a_missing_key_is_a_tool_error_naming_where_to_set_it(context_for):
    tools = ApiTools(context_for(DAYTONA_PROXY_API_KEY=""))

    with pytest.raises(ToolError) as refused:
        tools.get_by_snapshot_ref("ubuntu")

    assert "DAYTONA_PROXY_API_KEY" in str(refused.value)


def test_the_server_lists_fifteen_uniquely_named_tools(context_for):
    tools = anyio.run(build_server(context_for()).list_tools)

    names = [tool.name for tool in tools]
    assert len(names) == len(set(names)) == 15


def test_a_refused_organization_key_tells_the_model_not_to_retry(context_for):
    tools = ApiTools(context_for(DAYTONA_API_KEY="dtn_not_a_key_the_emulator_knows"))

    with pytest.raises(ToolError) as refused:
        tools.list_runners()

    assert "401" in str(refused.value)
    assert "retrying will not help" in str(refused.value)
    assert "dtn_not_a_key_the_emulator_knows" not in str(refused.value)


def test_host_metrics_report_the_addresses_kept_with_the_identity(context_for):
    context = context_for()
    StateDir(context.config.state_dir).save_identity(
        Identity(
            runner_id="5f0c3d8e-0000-4000-8000-000000000001",
            token=Secret("dtn_runner_key_0123456789"),
            domain="kept.runners.example",
            proxy_url="https://kept-proxy.runners.example",
        )
    )

    body = HostTools(context).metrics()

    assert body["domain"] == "kept.runners.example"
    assert body["proxyUrl"] == "https://kept-proxy.runners.example"
