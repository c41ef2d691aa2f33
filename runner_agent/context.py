"""What a command works with: the configuration, the state, one client.

:class:`AgentContext` builds the API client once, lazily, and knows how to
find *this* runner: the identity on disk, or else a runner key given in the
configuration (whose runner is then asked for its id).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from runner_agent.client import RunnersClient
from runner_agent.config import Config
from runner_agent.errors import NotRegisteredError, RunnerAgentError
from runner_agent.state import IDENTITY_FILE, Identity, StateDir


class AgentContext:
    """The configuration, state directory and API client of one process.

    After :meth:`local_identity`, ``identity_file`` is the file the identity
    was read from (None when it came from the runner key).
    """

    def __init__(self, config: Config, *, timeout: float | None = None) -> None:
        self.config = config
        self.state = StateDir(config.state_dir)
        self.identity_file: Path | None = None
        self._timeout = timeout
        self._own_runner_id = ""

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
        """This host's runner; the client then carries its key.

        When only a runner key is known, its runner is fetched for the id.
        """
        identity = self.local_identity()
        if identity.runner_id:
            return identity
        return identity.of_runner(self.client.get_me())

    def local_identity(self) -> Identity:
        """This host's runner as far as the host knows it, asking no one.

        The identity on disk, or else the configured runner key with an
        empty ``runner_id``. The client then carries the key.
        """
        identity = self.state.load_identity()
        token = self.config.credentials.runner
        if identity is not None:
            self.identity_file = self.state.file(IDENTITY_FILE)
        elif token:
            identity = Identity(runner_id="", token=token)
        else:
            raise NotRegisteredError(
                "this host has no runner identity: run runner-agent register, "
                "or set DAYTONA_RUNNER_TOKEN",
                path=str(self.state.path),
            )
        self.use_runner_key(identity)
        return identity

    def own_runner_id(self) -> str | None:
        """This host's runner id; None when it has none or it cannot be told now.

        Asks the control plane only when the host knows nothing but a
        runner key, and then once.
        """
        if not self._own_runner_id:
            try:
                self._own_runner_id = self.identity().runner_id
            except RunnerAgentError:
                return None
        return self._own_runner_id

    @property
    def identity_source(self) -> str:
        """Where the identity came from, for people."""
        if self.identity_file is not None:
            return str(self.identity_file)
        return f"runner_token ({self.config.origin('runner_token')})"

    def use_runner_key(self, identity: Identity) -> None:
        self.client.credentials = self.client.credentials.with_runner(identity.token)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
