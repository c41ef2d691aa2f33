"""Fixtures for the MCP server: an emulator, a host runner, a server's env.

The MCP server runs as a real subprocess (``python -m runner_agent mcp``),
started by the SDK's own client, so one emulator serves a whole module and
each scenario talks to one server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret
from runner_agent.emulator import Emulator, EmulatorSettings

SNAPSHOT_REF = "daytonaio/sandbox:0.4.3"


@dataclass(frozen=True)
class HostRunner:
    """The runner the MCP server's host is registered as, and its sandbox."""

    id: str
    key: str
    sandbox_id: str
    snapshot_ref: str


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator per module; subprocesses take a while to start."""
    settings = EmulatorSettings(
        check_interval=0.1, unresponsive_after=30.0, decommission_checks=3
    )
    with Emulator.start(settings) as running:
        yield running


@pytest.fixture(scope="module")
def host_runner(emulator: Emulator) -> HostRunner:
    """A registered runner holding one started sandbox and one snapshot."""
    credentials = Credentials(organization=Secret(emulator.organization_key))
    with RunnersClient(emulator.url, credentials) as client:
        created = client.create_runner(region_id=emulator.region_id, name="mcp-host")
    sandbox = emulator.store.add_sandbox(created.id, None, "started")
    emulator.store.add_snapshot(created.id, SNAPSHOT_REF)
    return HostRunner(created.id, created.api_key.reveal(), sandbox["id"], SNAPSHOT_REF)


@pytest.fixture(scope="module")
def server_env(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory):
    """Make a clean environment pointing a server at the emulator."""

    def make(**extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DAYTONA_", "RUNNER_AGENT_", "CREDENTIALS_"))
        }
        env.update(
            RUNNER_AGENT_CONFIG=os.devnull,
            RUNNER_AGENT_STATE_DIR=str(tmp_path_factory.mktemp("state")),
            DAYTONA_API_URL=emulator.url,
            DAYTONA_API_KEY=emulator.organization_key,
            DAYTONA_PROXY_API_KEY=emulator.proxy_key,
        )
        env.update(extra)
        return env

    return make


def all_text(results: list[Any]) -> str:
    """Every text and structured result, as one string to search for keys."""
    parts = []
    for result in results:
        parts.extend(block.text for block in result.content if block.type == "text")
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


@pytest.fixture
def said() -> Any:
    """Join what tool results said, to look for keys in it."""
    return all_text
