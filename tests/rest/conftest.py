"""The REST adapter served on loopback in front of an emulator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from runner_agent.client import RunnersClient
from runner_agent.config import Config, load_config
from runner_agent.context import AgentContext
from runner_agent.credentials import Credentials, Secret
from runner_agent.httpserver import serve_in_thread
from runner_agent.rest_adapter import build_rest_app

TOKEN = "rest-adapter-local-token"


@dataclass
class Rest:
    """A served adapter: an httpx client on it, and what it was built from."""

    http: httpx.Client
    config: Config

    def auth(self, token: str = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Registered:
    """A runner created for a test, with its key."""

    id: str
    key: str


@pytest.fixture
def registered(emulator) -> Registered:
    credentials = Credentials(organization=Secret(emulator.organization_key))
    with RunnersClient(emulator.url, credentials) as client:
        created = client.create_runner(region_id=emulator.region_id, name="rest-host")
    return Registered(created.id, created.api_key.reveal())


@pytest.fixture
def make_rest(emulator, tmp_path) -> Iterator[Callable[..., Rest]]:
    """Serve an adapter configured like the daemon would be, via env."""
    cleanup: list[Callable[[], None]] = []

    def make(
        *,
        token: str | None = TOKEN,
        listen: str = "127.0.0.1:9713",
        api_timeout: float = 10.0,
        **env: str,
    ) -> Rest:
        environment = {
            "RUNNER_AGENT_CONFIG": os.devnull,
            "DAYTONA_API_URL": emulator.url,
            "DAYTONA_API_KEY": emulator.organization_key,
            "DAYTONA_PROXY_API_KEY": emulator.proxy_key,
            "RUNNER_AGENT_STATE_DIR": str(tmp_path / "state"),
            "RUNNER_AGENT_LISTEN": listen,
            **env,
        }
        if token is not None:
            environment["RUNNER_AGENT_LOCAL_TOKEN"] = token
        config = load_config(env=environment)
        context = AgentContext(config, timeout=api_timeout)
        server = serve_in_thread(build_rest_app(context), name="rest-test")
        http = httpx.Client(base_url=server.url, timeout=30)
        cleanup.extend([server.stop, context.close, http.close])
        return Rest(http, config)

    yield make
    for close in reversed(cleanup):
        close()


@pytest.fixture
def rest(make_rest, registered) -> Rest:
    """An adapter with a token, the organization, proxy and runner keys."""
    return make_rest(DAYTONA_RUNNER_TOKEN=registered.key)
