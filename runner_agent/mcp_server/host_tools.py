"""Tools for this host's runner, found without knowing its id.

Status, local metrics, cordon and uncordon. Draining is deliberately not
among them: it retires a runner for good, which an operator decides with
``runner-agent drain`` or ``deregister``, not an assistant in passing.
Cordon and uncordon go through :mod:`runner_agent.lifecycle`, so the
agent's record of what was asked stays right.
"""

from __future__ import annotations

from typing import Any

from runner_agent import lifecycle
from runner_agent.mcp_server.base import ToolSet, ToolSpec, reader, writer

HOST_TOOLS: tuple[ToolSpec, ...] = (
    reader(
        "runner-agent-host-status",
        "status",
        "This host's runner: control plane view and local record",
    ),
    reader("runner-agent-host-metrics", "metrics", "This host's metrics, measured now"),
    writer(
        "runner-agent-host-cordon",
        "cordon",
        "Cordon this host's runner",
        destructive=False,
        idempotent=True,
    ),
    writer(
        "runner-agent-host-uncordon",
        "uncordon",
        "Uncordon this host's runner",
        destructive=False,
        idempotent=True,
    ),
)


class HostTools(ToolSet):
    """The four tools about the runner this host is registered as."""

    def status(self) -> dict[str, Any]:
        """This host's runner: the control plane's view and the agent's record.

        The record says which runner this host is (key masked) and whether
        the agent asked for a drain or placed a cordon itself.
        """
        with self.refusals():
            identity = self.identity()
            runner = self.client.get_me()
            intent = self.context.state.load_intent()
        return self.result(
            {
                "identity": identity.to_json(show_secrets=self.show_secrets),
                "controlPlane": runner.to_json(show_secrets=self.show_secrets),
                "intent": intent.to_json(),
            }
        )

    def metrics(self) -> dict[str, Any]:
        """The healthcheck this host would send, measured now; no network."""
        from runner_agent.payload import measure_once, stored_identity

        with self.refusals():
            body = measure_once(self.config, stored_identity(self.config))
        return self.result(body)

    def cordon(self) -> dict[str, Any]:
        """Cordon this host's runner: no new sandboxes land on it.

        The sandboxes it runs keep running; the uncordon tool undoes it.
        """
        with self.refusals():
            identity = self.identity()
            runner = lifecycle.cordon(
                self.client, self.context.state, identity.runner_id
            )
        return self.result(runner.to_json())

    def uncordon(self) -> dict[str, Any]:
        """Make this host's runner schedulable again."""
        with self.refusals():
            identity = self.identity()
            runner = lifecycle.uncordon(
                self.client, self.context.state, identity.runner_id
            )
        return self.result(runner.to_json())
