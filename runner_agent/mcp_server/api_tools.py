"""The runners API of the control plane as MCP tools, one per operation.

The names are the ones the published capability gave them, except that the
full look-up by id has a name of its own (the capability reused the name of
the plain look-up). The behaviour hints in :data:`API_TOOLS` follow what the
API really does; docs/mcp-and-rest.md explains each choice.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import Field

from runner_agent import lifecycle
from runner_agent.created_runners import CreatedRunnerKeys, created_runner_json
from runner_agent.mcp_server.base import (
    RegionId,
    RunnerId,
    RunnerName,
    SandboxClass,
    SandboxId,
    SnapshotRef,
    Tags,
    ToolSet,
    ToolSpec,
    reader,
    writer,
)

API_TOOLS: tuple[ToolSpec, ...] = (
    writer(
        "daytona-create-runner",
        "create_runner",
        "Create a runner",
        destructive=False,
        idempotent=False,
    ),
    reader("daytona-list-all-runners", "list_runners", "List runners"),
    reader(
        "daytona-get-info-for-authenticated-runner",
        "get_me",
        "This host's runner, as the control plane sees it",
    ),
    reader(
        "daytona-get-runner-by-sandbox-id", "get_by_sandbox", "The runner of a sandbox"
    ),
    reader(
        "daytona-get-runners-by-snapshot-ref",
        "get_by_snapshot_ref",
        "Runners holding a snapshot",
    ),
    reader("daytona-get-runner-by-id", "get_runner", "A runner by id"),
    reader(
        "daytona-get-runner-full-by-id",
        "get_runner_full",
        "A runner by id, with its details",
    ),
    writer(
        "daytona-delete-runner",
        "delete_runner",
        "Delete a runner",
        destructive=True,
        idempotent=True,
    ),
    writer(
        "daytona-update-runner-scheduling-status",
        "set_scheduling",
        "Cordon or uncordon a runner",
        destructive=False,
        idempotent=True,
    ),
    writer(
        "daytona-update-runner-draining-status",
        "set_draining",
        "Drain (retire) a runner, or stop draining it",
        destructive=True,
        idempotent=True,
    ),
    writer(
        "daytona-runner-healthcheck",
        "healthcheck",
        "Measure this host and send its healthcheck",
        destructive=False,
        idempotent=True,
    ),
)


class ApiTools(ToolSet):
    """The eleven tools over the runners API."""

    def create_runner(
        self,
        region_id: RegionId,
        name: RunnerName,
        tags: Tags = None,
        sandbox_class: SandboxClass = None,
    ) -> dict[str, Any]:
        """Create a runner in a region (organization key).

        Not idempotent: a second create with the same name in the region is
        refused (409). The new runner's key is shown by the control plane
        once: it is written to keyFile on this machine and answered masked.
        """
        keys = CreatedRunnerKeys(self.config.state_dir)
        with self.refusals():
            created, path = keys.create(
                self.client,
                region_id=region_id,
                name=name,
                tags=tags,
                sandbox_class=sandbox_class,
                api_url=self.config.api_url,
            )
        return self.result(
            created_runner_json(created, path, show_secrets=self.show_secrets)
        )

    def list_runners(
        self,
        region_id: Annotated[
            str | None, Field(description="Only the runners of this region.")
        ] = None,
    ) -> dict[str, Any]:
        """List the organization's runners, optionally in one region only."""
        with self.refusals():
            runners = self.client.list_runners(region_id)
        return self.result({"runners": [runner.to_json() for runner in runners]})

    def get_me(self) -> dict[str, Any]:
        """This host's runner, read with its own key (apiKey masked)."""
        with self.refusals():
            self.identity()
            runner = self.client.get_me()
        return self.result(runner.to_json(show_secrets=self.show_secrets))

    def get_by_sandbox(self, sandbox_id: SandboxId) -> dict[str, Any]:
        """The runner a sandbox runs on (proxy key; apiKey masked)."""
        with self.refusals():
            runner = self.client.get_by_sandbox(sandbox_id)
        return self.result(runner.to_json(show_secrets=self.show_secrets))

    def get_by_snapshot_ref(self, ref: SnapshotRef) -> dict[str, Any]:
        """The runners holding a snapshot (proxy key)."""
        with self.refusals():
            holders = self.client.get_by_snapshot_ref(ref)
        return self.result({"runners": [holder.to_json() for holder in holders]})

    def get_runner(self, runner_id: RunnerId) -> dict[str, Any]:
        """A runner by id (organization key)."""
        with self.refusals():
            runner = self.client.get_runner(runner_id)
        return self.result(runner.to_json())

    def get_runner_full(self, runner_id: RunnerId) -> dict[str, Any]:
        """A runner by id with its details (proxy key; apiKey masked)."""
        with self.refusals():
            runner = self.client.get_runner_full(runner_id)
        return self.result(runner.to_json(show_secrets=self.show_secrets))

    def delete_runner(self, runner_id: RunnerId) -> dict[str, Any]:
        """Delete a runner for good (organization key).

        The control plane refuses (400) while the runner is schedulable or
        holds a live sandbox: cordon it and let it empty first.
        """
        with self.refusals():
            self.client.delete_runner(runner_id)
        return self.result({"deleted": runner_id})

    def set_scheduling(
        self,
        runner_id: RunnerId,
        unschedulable: Annotated[
            bool,
            Field(
                description="true: cordon (no new sandboxes, reversible); "
                "false: schedulable again.",
                strict=True,
            ),
        ],
    ) -> dict[str, Any]:
        """Cordon (unschedulable true) or uncordon a runner (organization key)."""
        with self.refusals():
            runner = lifecycle.set_scheduling(
                self.context, runner_id, unschedulable=unschedulable
            )
        return self.result(runner.to_json())

    def set_draining(
        self,
        runner_id: RunnerId,
        draining: Annotated[
            bool,
            Field(
                description="true: retire the runner for good (it becomes "
                "decommissioned once empty); false: stop draining before that.",
                # 1 or "yes" must not retire a runner: only a JSON boolean.
                strict=True,
            ),
        ],
    ) -> dict[str, Any]:
        """Start or stop draining a runner (organization key).

        Draining is permanent retirement: once empty, the runner becomes
        decommissioned and is never scheduled again. To pause a runner, use
        the scheduling tool (cordon) instead.
        """
        with self.refusals():
            runner = lifecycle.set_draining(self.context, runner_id, draining=draining)
        return self.result(runner.to_json())

    def healthcheck(self) -> dict[str, Any]:
        """Measure this host now and send its healthcheck (runner key).

        An accepted healthcheck marks the runner ready; repeating it is
        harmless.
        """
        from runner_agent.payload import measure_once

        with self.refusals():
            body = measure_once(self.config, self.identity())
            started = time.monotonic()
            self.client.send_healthcheck(body)
            latency_ms = (time.monotonic() - started) * 1000
        return self.result(
            {"accepted": True, "latencyMs": round(latency_ms, 1), "body": body}
        )
