"""What a command works with: the configuration, the state, one client.

:class:`AgentContext` builds the API client once, lazily, and knows how to
find *this* runner: the identity on disk, or else a runner key given in the
configuration (whose runner is then asked for its id).
"""

from __future__ import annotations

from functools import cached_property

from runner_agent.client import RunnersClient
from runner_agent.config import Config
from runner_agent.errors import NotRegisteredError
from runner_agent.state import Identity, StateDir


class AgentContext:
    """The configuration, state directory and API client of one process."""

    def __init__(self, config: Config, *, timeout: float | None = None) -> None:
        self.config = config
        self.state = StateDir(config.state_dir)
        self._timeout = timeout

    @cached_property
    def client(self) -> RunnersClient:
        config = self.config
        return RunnersClient(
            config.api_url,
            config.credentials,
            organization_id=config.organization_id,
            timeout=self._timeout or max(config.healthcheck.timeout, 10.0),
            ca_bundle=config.ca_bundle,
            keepalive_expiry=config.healthcheck.interval + 30.0,
        )

    def identity(self) -> Identity:
        """This host's runner; the client then carries its key."""
        identity = self.state.load_identity()
        token = self.config.credentials.runner
        if identity is None and token:
            self.use_runner_key(Identity(runner_id="", token=token))
            me = self.client.get_me()
            identity = Identity(
                runner_id=me.id, token=token, name=me.name, region_id=me.region
            )
        if identity is None:
            raise NotRegisteredError(
                "this host has no runner identity: run runner-agent register, "
                "or set DAYTONA_RUNNER_TOKEN",
                path=str(self.state.path),
            )
        self.use_runner_key(identity)
        return identity

    def use_runner_key(self, identity: Identity) -> None:
        self.client.credentials = self.client.credentials.with_runner(identity.token)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
