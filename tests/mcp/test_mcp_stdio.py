"""``runner-agent mcp`` over stdio and over HTTP, driven by the SDK's client.

Over each transport one server runs one scenario against the emulator: it
lists the tools, calls every one of them, and makes a few fail on purpose.
The tests then read the transcript, once per transport.
"""

from __future__ import annotations

import contextlib
import functools
import json
import stat
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from runner_agent.credentials import mask
from tests.mcp.servers import http_server

LOCAL_TOKEN = "local-token-for-the-mcp-scenario"

# name: (readOnlyHint, destructiveHint, idempotentHint)
EXPECTED_HINTS = {
    "daytona-create-runner": (False, False, False),
    "daytona-list-all-runners": (True, False, True),
    "daytona-get-info-for-authenticated-runner": (True, False, True),
    "daytona-get-runner-by-sandbox-id": (True, False, True),
    "daytona-get-runners-by-snapshot-ref": (True, False, True),
    "daytona-get-runner-by-id": (True, False, True),
    "daytona-get-runner-full-by-id": (True, False, True),
    "daytona-delete-runner": (False, True, True),
    "daytona-update-runner-scheduling-status": (False, False, True),
    "daytona-update-runner-draining-status": (False, True, True),
    "daytona-runner-healthcheck": (False, False, True),
    "runner-agent-host-status": (True, False, True),
    "runner-agent-host-metrics": (True, False, True),
    "runner-agent-host-cordon": (False, False, True),
    "runner-agent-host-uncordon": (False, False, True),
}


@dataclass
class Transcript:
    """What the server listed and answered, by label."""

    state_dir: Path
    created_name: str
    tools: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def ok(self, label: str) -> dict[str, Any]:
        result = self.results[label]
        assert not result.is_error, result.content[0].text
        document: dict[str, Any] = result.structured_content
        return document

    def error(self, label: str) -> str:
        result = self.results[label]
        assert result.is_error, result.structured_content
        text: str = result.content[0].text
        return text


@contextlib.asynccontextmanager
async def _stdio_session(env: dict[str, str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runner_agent", "mcp"], env=env
    )
    async with (
        stdio_client(params, errlog=sys.stderr) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        yield session


@contextlib.asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        yield session


async def _scenario(
    session_opener: Callable[[], Any], emulator, host, transcript: Transcript
) -> None:
    async with session_opener() as session:
        await session.initialize()
        listed = await session.list_tools()
        transcript.tools = {tool.name: tool for tool in listed.tools}

        async def call(label: str, tool: str, **arguments: Any) -> dict[str, Any]:
            result = await session.call_tool(tool, arguments)
            transcript.results[label] = result
            return result.structured_content or {}

        region = emulator.region_id
        await call("list", "daytona-list-all-runners", region_id=region)
        created = await call(
            "create",
            "daytona-create-runner",
            region_id=region,
            name=transcript.created_name,
            tags=["gpu", "eu"],
            sandbox_class="container",
        )
        new_id = created.get("id", "")
        await call(
            "create again",
            "daytona-create-runner",
            region_id=region,
            name=transcript.created_name,
        )
        await call("bad name", "daytona-create-runner", region_id=region, name="a b")
        await call("get", "daytona-get-runner-by-id", runner_id=new_id)
        await call("full", "daytona-get-runner-full-by-id", runner_id=host.id)
        await call("me", "daytona-get-info-for-authenticated-runner")
        await call(
            "by sandbox", "daytona-get-runner-by-sandbox-id", sandbox_id=host.sandbox_id
        )
        await call(
            "by snapshot", "daytona-get-runners-by-snapshot-ref", ref=host.snapshot_ref
        )
        await call("healthcheck", "daytona-runner-healthcheck")
        await call("me after healthcheck", "daytona-get-info-for-authenticated-runner")
        await call(
            "cordon new",
            "daytona-update-runner-scheduling-status",
            runner_id=new_id,
            unschedulable=True,
        )
        await call(
            "undrain new",
            "daytona-update-runner-draining-status",
            runner_id=new_id,
            draining=False,
        )
        await call("delete new", "daytona-delete-runner", runner_id=new_id)
        await call("host status", "runner-agent-host-status")
        await call("host metrics", "runner-agent-host-metrics")
        await call("host cordon", "runner-agent-host-cordon")
        await call("host status cordoned", "runner-agent-host-status")
        await call("host uncordon", "runner-agent-host-uncordon")
        await call(
            "drain host",
            "daytona-update-runner-draining-status",
            runner_id=host.id,
            draining=True,
        )
        await call("host status draining", "runner-agent-host-status")
        await call(
            "undrain host",
            "daytona-update-runner-draining-status",
            runner_id=host.id,
            draining=False,
        )
        await call("host status undrained", "runner-agent-host-status")
        await call(
            "draining as a number",
            "daytona-update-runner-draining-status",
            runner_id=host.id,
            draining=1,
        )
        await call("host status after the number", "runner-agent-host-status")
        await call("malformed id", "daytona-get-runner-by-id", runner_id="not-a-uuid")
        await call("after the error", "daytona-list-all-runners")


@pytest.fixture(scope="module", params=["stdio", "http"])
def transcript(request, emulator, host_runner, server_env, tmp_path_factory):
    """One scenario per transport, each against its own server process."""
    transport = request.param
    env = server_env(
        DAYTONA_RUNNER_TOKEN=host_runner.key, RUNNER_AGENT_LOCAL_TOKEN=LOCAL_TOKEN
    )
    recorded = Transcript(
        Path(env["RUNNER_AGENT_STATE_DIR"]), created_name=f"mcp-created-{transport}"
    )
    if transport == "stdio":
        opener = functools.partial(_stdio_session, env)
        anyio.run(_scenario, opener, emulator, host_runner, recorded)
        return recorded
    log = tmp_path_factory.mktemp("mcp-http") / "stderr.log"
    with http_server(env, log) as server:
        opener = functools.partial(_http_session, server.url)
        anyio.run(_scenario, opener, emulator, host_runner, recorded)
    return recorded


def test_every_tool_is_listed_with_its_hints(transcript):
    hints = {
        name: (
            tool.annotations.read_only_hint,
            tool.annotations.destructive_hint,
            tool.annotations.idempotent_hint,
        )
        for name, tool in transcript.tools.items()
    }

    assert hints == EXPECTED_HINTS
    assert all(
        t.annotations.open_world_hint is False for t in transcript.tools.values()
    )


def _enum(schema: dict[str, Any]) -> list[str]:
    """The enum of a property, possibly inside an anyOf with null."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "enum" in option:
            return list(option["enum"])
    return []


def test_create_takes_typed_arguments_only(transcript):
    schema = transcript.tools["daytona-create-runner"].input_schema
    properties = schema["properties"]

    assert set(properties) == {"region_id", "name", "tags", "sandbox_class"}
    assert sorted(schema["required"]) == ["name", "region_id"]
    assert properties["name"]["pattern"] == "^[a-zA-Z0-9_.-]+$"
    assert (properties["name"]["minLength"], properties["name"]["maxLength"]) == (
        2,
        255,
    )
    assert properties["tags"]["anyOf"][0] == {
        "items": {"type": "string"},
        "maxItems": 64,
        "type": "array",
    }
    assert _enum(properties["sandbox_class"]) == ["container", "linux-vm", "windows"]


def test_each_tool_asks_for_its_own_typed_arguments(transcript):
    expected = {
        "daytona-get-runner-by-id": {"runner_id": "string"},
        "daytona-get-runner-full-by-id": {"runner_id": "string"},
        "daytona-delete-runner": {"runner_id": "string"},
        "daytona-get-runner-by-sandbox-id": {"sandbox_id": "string"},
        "daytona-get-runners-by-snapshot-ref": {"ref": "string"},
        "daytona-update-runner-scheduling-status": {
            "runner_id": "string",
            "unschedulable": "boolean",
        },
        "daytona-update-runner-draining-status": {
            "runner_id": "string",
            "draining": "boolean",
        },
    }

    for name, arguments in expected.items():
        schema = transcript.tools[name].input_schema
        types = {key: value["type"] for key, value in schema["properties"].items()}
        assert types == arguments, name
        assert sorted(schema["required"]) == sorted(arguments), name


def test_no_tool_takes_a_key_or_a_free_form_body(transcript):
    no_arguments = {
        "daytona-get-info-for-authenticated-runner",
        "daytona-runner-healthcheck",
        "runner-agent-host-status",
        "runner-agent-host-metrics",
        "runner-agent-host-cordon",
        "runner-agent-host-uncordon",
    }

    for name, tool in transcript.tools.items():
        properties = tool.input_schema.get("properties", {})
        assert not any("key" in p or "token" in p or "body" in p for p in properties)
        assert all(p.get("type") != "object" for p in properties.values())
        if name in no_arguments:
            assert properties == {}, name


def test_every_result_is_structured(transcript):
    for label, result in transcript.results.items():
        if not result.is_error:
            assert isinstance(result.structured_content, dict), label
    assert all(t.output_schema["type"] == "object" for t in transcript.tools.values())


def test_list_and_look_ups_answer_the_api_documents(transcript, host_runner):
    listed = transcript.ok("list")["runners"]
    by_sandbox = transcript.ok("by sandbox")
    by_snapshot = transcript.ok("by snapshot")["runners"]
    by_id = transcript.ok("get")

    assert host_runner.id in {runner["id"] for runner in listed}
    assert by_sandbox["id"] == host_runner.id
    assert [holder["runnerId"] for holder in by_snapshot] == [host_runner.id]
    assert by_id["name"] == transcript.created_name
    assert by_id["tags"] == ["gpu", "eu"]


def test_full_documents_carry_the_runner_key_masked(transcript, host_runner):
    for label in ("full", "me", "by sandbox"):
        document = transcript.ok(label)

        assert document["id"] == host_runner.id
        assert document["apiKey"] == mask(host_runner.key)


def test_create_keeps_the_new_key_in_a_private_file_and_masks_it(transcript):
    created = transcript.ok("create")
    key_file = Path(created["keyFile"])

    kept = json.loads(key_file.read_text())
    assert key_file.parent == transcript.state_dir / "created-runners"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert kept["runnerId"] == created["id"]
    assert created["apiKey"] == mask(kept["runnerToken"])
    assert kept["runnerToken"] not in json.dumps(created)


def test_a_second_create_with_the_same_name_is_the_api_conflict(transcript):
    message = transcript.error("create again")

    assert "409" in message
    assert "already exists" in message


def test_a_name_outside_the_pattern_is_refused_by_the_schema(transcript):
    assert "pattern" in transcript.error("bad name")


def test_healthcheck_measures_this_host_and_makes_the_runner_ready(transcript):
    sent = transcript.ok("healthcheck")

    assert sent["accepted"] is True
    assert sent["body"]["metrics"]["cpu"] >= 1
    assert transcript.ok("me after healthcheck")["state"] == "ready"


def test_scheduling_draining_and_delete_change_the_runner(transcript):
    assert transcript.ok("cordon new")["unschedulable"] is True
    assert transcript.ok("undrain new")["name"] == transcript.created_name
    assert transcript.ok("delete new") == {"deleted": transcript.ok("create")["id"]}
    assert transcript.created_name not in {
        r["name"] for r in transcript.ok("after the error")["runners"]
    }


def test_host_tools_cordon_and_uncordon_this_runner(transcript, host_runner):
    status = transcript.ok("host status")
    cordoned = transcript.ok("host status cordoned")

    assert status["controlPlane"]["id"] == host_runner.id
    assert status["identity"]["runnerToken"] == mask(host_runner.key)
    assert transcript.ok("host cordon")["unschedulable"] is True
    assert cordoned["controlPlane"]["unschedulable"] is True
    assert transcript.ok("host uncordon")["unschedulable"] is False


def test_host_metrics_are_a_healthcheck_body(transcript):
    body = transcript.ok("host metrics")

    assert body["metrics"]["cpu"] >= 1
    assert 0 <= body["metrics"]["currentMemoryUsagePercentage"] <= 100
    assert body["appVersion"].startswith("runner-agent/")


def test_draining_this_hosts_runner_through_the_api_tool_is_remembered(transcript):
    draining = transcript.ok("host status draining")["intent"]
    undrained = transcript.ok("host status undrained")["intent"]

    assert transcript.ok("drain host")["id"] == transcript.ok("me")["id"]
    assert draining["draining"] is True
    assert undrained["draining"] is False


def test_a_flag_given_as_a_number_is_refused_not_coerced(transcript):
    message = transcript.error("draining as a number")

    assert "bool" in message.lower()
    # Nothing was sent: the runner is not draining, by the agent's record.
    assert transcript.ok("host status after the number")["intent"]["draining"] is False


def test_a_malformed_id_is_a_tool_error_with_the_server_message(transcript):
    message = transcript.error("malformed id")

    assert "400" in message
    assert "uuid" in message.lower()
    assert transcript.ok("after the error")["runners"]


def test_no_result_shows_a_key(transcript, emulator, host_runner, said):
    text = said(list(transcript.results.values()))
    created_key = json.loads(Path(transcript.ok("create")["keyFile"]).read_text())

    for key in (
        emulator.organization_key,
        emulator.proxy_key,
        host_runner.key,
        created_key["runnerToken"],
    ):
        assert key not in text
