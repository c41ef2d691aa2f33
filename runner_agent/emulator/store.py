"""The emulator's state and the control plane's rules for runners.

One lock guards everything; every public method takes it, so the API's
worker threads, the periodic check and in-process tests may call in at
once. Time comes from an injectable ``clock`` (epoch seconds) so tests can
move it without sleeping.

The state machine, as the control plane runs it:

* a created runner is ``initializing``, schedulable and not draining;
* an accepted healthcheck makes it ``ready`` (``unresponsive`` when a
  service reports unhealthy), stamps ``lastChecked`` and copies the
  reported capacity and usage;
* the periodic :meth:`Store.check` marks a ``ready`` runner silent for
  ``unresponsive_after`` seconds ``unresponsive``, and counts, for each
  draining runner, consecutive checks without a live sandbox: reaching
  ``decommission_checks`` makes it ``decommissioned``; a live sandbox or
  undraining resets the count;
* a deleted runner is gone, but its key is still recognised as a runner
  key, so ``/runners/me`` and the healthcheck answer 404: an agent can tell
  "my runner was deleted" from "my key is wrong" (401);
* ``decommissioned`` is final: healthchecks are then accepted and ignored
  (only the control surface's count of healthchecks still moves).

Routes raise :class:`HttpError` with the status the API answers: an unknown
region in a create body is 404 like an unknown runner, a taken name 409,
an unmet delete precondition 400.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from runner_agent.emulator.lockout import AuthLockout
from runner_agent.emulator.records import (
    ALL_PERMISSIONS,
    CURRENT_METRICS,
    Principal,
    RunnerRecord,
    SandboxRecord,
    SnapshotRecord,
    keys_dump,
    runner_dump,
    runner_full_view,
    runner_view,
    snapshot_view,
)
from runner_agent.emulator.settings import EmulatorSettings, new_key
from runner_agent.wsgi import HttpError

__all__ = ["Store"]

Clock = Callable[[], float]


class Store:
    """Runners, sandboxes, snapshots and keys of one emulated organization."""

    def __init__(self, settings: EmulatorSettings, clock: Clock = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.RLock()
        self.lockout = AuthLockout(
            settings.auth_failure_limit, settings.auth_failure_window, clock
        )
        self._reset_locked()

    def _reset_locked(self) -> None:
        self._runners: dict[str, RunnerRecord] = {}
        self._sandboxes: dict[str, SandboxRecord] = {}
        self._snapshots: dict[str, SnapshotRecord] = {}
        self._keys: dict[str, Principal] = {
            self.settings.organization_key: Principal("organization"),
            self.settings.proxy_key: Principal("proxy"),
        }
        self.lockout.clear()

    def reset(self) -> None:
        """Forget runners, sandboxes, snapshots, extra keys and the lock-out."""
        with self._lock:
            self._reset_locked()

    # Keys

    def principal_for(self, key: str) -> Principal | None:
        """Who ``key`` belongs to, or ``None`` for an unknown key."""
        with self._lock:
            return self._keys.get(key)

    def add_organization_key(self, permissions: Iterable[str]) -> str:
        """Create an extra organization key limited to ``permissions``."""
        granted = frozenset(permissions)
        unknown = granted - ALL_PERMISSIONS
        if unknown:
            raise HttpError(400, f"Unknown permissions: {sorted(unknown)}")
        key = new_key()
        with self._lock:
            self._keys[key] = Principal("organization", granted)

        return key

    # Runners, as the API sees them

    def create_runner(
        self, region_id: str, name: str, tags: list[str], sandbox_class: str
    ) -> dict[str, Any]:
        """Register a runner; answer its id and its key (shown this once)."""
        if region_id != self.settings.region_id:
            raise HttpError(404, f"Region with ID {region_id} not found")
        with self._lock:
            if any(
                r.name == name and r.region_id == region_id
                for r in self._runners.values()
            ):
                raise HttpError(
                    409, f"Runner with name {name} already exists in this region"
                )
            now = self.clock()
            runner = RunnerRecord(
                id=str(uuid.uuid4()),
                name=name,
                region_id=region_id,
                api_key=new_key(),
                sandbox_class=sandbox_class,
                tags=list(tags),
                created_at=now,
                updated_at=now,
            )
            self._runners[runner.id] = runner
            self._keys[runner.api_key] = Principal("runner", runner_id=runner.id)

            return {"id": runner.id, "apiKey": runner.api_key}

    def list_runners(self, region_id: str | None = None) -> list[dict[str, Any]]:
        """Every runner, or those of one region, oldest first."""
        with self._lock:
            return [
                runner_view(r)
                for r in self._runners.values()
                if region_id is None or r.region_id == region_id
            ]

    def runner(self, runner_id: str) -> dict[str, Any]:
        """The runner as ``Runner``."""
        with self._lock:
            return runner_view(self._find(runner_id))

    def runner_full(self, runner_id: str) -> dict[str, Any]:
        """The runner as ``RunnerFull``."""
        with self._lock:
            return runner_full_view(self._find(runner_id))

    def record(self, runner_id: str) -> RunnerRecord:
        """A copy of the runner's record, draining flag and counters included."""
        with self._lock:
            return copy.deepcopy(self._find(runner_id))

    def delete_runner(self, runner_id: str) -> None:
        """Delete a cordoned, idle runner; its key then finds no runner (404)."""
        with self._lock:
            runner = self._find(runner_id)
            if not runner.unschedulable:
                raise HttpError(
                    400,
                    f"Runner {runner_id} is schedulable: set it unschedulable "
                    "before deleting it",
                )
            live = self._live_sandboxes(runner_id)
            if live:
                raise HttpError(
                    400,
                    f"Runner {runner_id} still holds {live} live sandbox(es): "
                    "they must be destroyed or archived before deleting it",
                )
            del self._runners[runner_id]
            self._forget_children(runner_id)

    def set_unschedulable(self, runner_id: str, value: bool) -> dict[str, Any]:
        """Cordon or uncordon a runner."""
        with self._lock:
            runner = self._find(runner_id)
            runner.unschedulable = value
            runner.updated_at = self.clock()

            return runner_view(runner)

    def set_draining(self, runner_id: str, value: bool) -> dict[str, Any]:
        """Start or stop draining; stopping resets the count towards decommission."""
        with self._lock:
            runner = self._find(runner_id)
            runner.draining = value
            if not value:
                runner.idle_checks = 0
            runner.updated_at = self.clock()

            return runner_view(runner)

    def healthcheck(self, runner_id: str, report: dict[str, Any]) -> None:
        """Apply a validated healthcheck from the runner itself."""
        with self._lock:
            runner = self._find(runner_id)
            runner.healthcheck_count += 1
            runner.last_healthcheck = copy.deepcopy(report)
            if runner.state == "decommissioned":
                return
            now = self.clock()
            unhealthy = [
                s for s in report.get("serviceHealth") or [] if not s["healthy"]
            ]
            runner.state = "unresponsive" if unhealthy else "ready"
            runner.last_checked = now
            runner.updated_at = now
            for attribute, key in (
                ("domain", "domain"),
                ("api_url", "apiUrl"),
                ("proxy_url", "proxyUrl"),
                ("app_version", "appVersion"),
            ):
                if report.get(key):
                    setattr(runner, attribute, report[key])
            if report.get("metrics") is not None:
                _apply_metrics(runner, report["metrics"])

    def runner_of_sandbox(self, sandbox_id: str) -> dict[str, Any]:
        """The runner holding a sandbox, as ``RunnerFull``."""
        with self._lock:
            sandbox = self._sandboxes.get(sandbox_id)
            if sandbox is None or sandbox.state == "destroyed":
                raise HttpError(404, f"Sandbox with ID {sandbox_id} not found")
            if not sandbox.live:
                raise HttpError(
                    404, f"Sandbox with ID {sandbox_id} does not have a runner"
                )
            return runner_full_view(self._find(sandbox.runner_id))

    def runners_with_snapshot(self, ref: str) -> list[dict[str, Any]]:
        """Every runner holding snapshot ``ref``, as ``RunnerSnapshotDto``."""
        with self._lock:
            return [
                snapshot_view(s, self._runners[s.runner_id])
                for s in self._snapshots.values()
                if s.ref == ref
            ]

    def snapshot_refs(self, runner_id: str) -> list[str]:
        """The snapshot references a runner holds."""
        with self._lock:
            self._find(runner_id)
            return [s.ref for s in self._snapshots.values() if s.runner_id == runner_id]

    # The periodic check

    def check(self) -> list[dict[str, Any]]:
        """Run one periodic check over every runner; answer their states."""
        with self._lock:
            now = self.clock()
            for runner in self._runners.values():
                if runner.state != "decommissioned":
                    self._check_one(runner, now)
            return [
                {
                    "id": r.id,
                    "state": r.state,
                    "draining": r.draining,
                    "idleChecks": r.idle_checks,
                }
                for r in self._runners.values()
            ]

    def _check_one(self, runner: RunnerRecord, now: float) -> None:
        silent_for = now - (runner.last_checked or now)
        if runner.state == "ready" and silent_for >= self.settings.unresponsive_after:
            runner.state = "unresponsive"
            runner.updated_at = now
        if not runner.draining:
            return
        if self._live_sandboxes(runner.id):
            runner.idle_checks = 0
            return
        runner.idle_checks += 1
        if runner.idle_checks >= self.settings.decommission_checks:
            runner.state = "decommissioned"
            runner.updated_at = now

    # Sandboxes and snapshots, placed through the control surface

    def add_sandbox(
        self, runner_id: str, sandbox_id: str | None, state: str
    ) -> dict[str, Any]:
        """Place a sandbox on a runner."""
        with self._lock:
            self._find(runner_id)
            sandbox_id = sandbox_id or str(uuid.uuid4())
            if sandbox_id in self._sandboxes:
                raise HttpError(409, f"Sandbox with ID {sandbox_id} already exists")
            sandbox = SandboxRecord(sandbox_id, runner_id, state)
            self._sandboxes[sandbox_id] = sandbox

            return sandbox.to_json()

    def set_sandbox_state(self, sandbox_id: str, state: str) -> dict[str, Any]:
        """Change a sandbox's state (``destroyed`` and ``archived`` free it)."""
        with self._lock:
            sandbox = self._find_sandbox(sandbox_id)
            sandbox.state = state

            return sandbox.to_json()

    def remove_sandbox(self, sandbox_id: str) -> None:
        """Forget a sandbox."""
        with self._lock:
            self._find_sandbox(sandbox_id)
            del self._sandboxes[sandbox_id]

    def add_snapshot(self, runner_id: str, ref: str) -> dict[str, Any]:
        """Record that a runner holds snapshot ``ref``."""
        with self._lock:
            self._find(runner_id)
            snapshot = SnapshotRecord(str(uuid.uuid4()), runner_id, ref)
            self._snapshots[snapshot.id] = snapshot

            return snapshot.to_json()

    def remove_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot."""
        with self._lock:
            if self._snapshots.pop(snapshot_id, None) is None:
                raise HttpError(404, f"Snapshot with ID {snapshot_id} not found")

    def dump(self) -> dict[str, Any]:
        """Everything, keys included, for the control surface."""
        with self._lock:
            sandboxes = list(self._sandboxes.values())
            snapshots = list(self._snapshots.values())
            return {
                "runners": [
                    runner_dump(r, sandboxes, snapshots) for r in self._runners.values()
                ],
                "keys": keys_dump(self._keys),
                "region": {
                    "id": self.settings.region_id,
                    "name": self.settings.region_name,
                    "regionType": "custom",
                },
                "settings": self.settings.to_json(),
            }

    # Helpers, called with the lock held

    def _find(self, runner_id: str) -> RunnerRecord:
        runner = self._runners.get(runner_id)
        if runner is None:
            raise HttpError(404, f"Runner with ID {runner_id} not found")
        return runner

    def _find_sandbox(self, sandbox_id: str) -> SandboxRecord:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise HttpError(404, f"Sandbox with ID {sandbox_id} not found")
        return sandbox

    def _live_sandboxes(self, runner_id: str) -> int:
        return sum(
            1 for s in self._sandboxes.values() if s.runner_id == runner_id and s.live
        )

    def _forget_children(self, runner_id: str) -> None:
        for table in (self._sandboxes, self._snapshots):
            for key in [k for k, v in table.items() if v.runner_id == runner_id]:
                del table[key]


def _apply_metrics(runner: RunnerRecord, metrics: dict[str, Any]) -> None:
    runner.current = {name: metrics[name] for name in CURRENT_METRICS}
    runner.cpu_load_average = metrics["currentCpuLoadAverage"]
    runner.cpu = metrics["cpu"]
    runner.memory = metrics["memoryGiB"]
    runner.disk = metrics["diskGiB"]
    if metrics.get("gpu") is not None:
        runner.gpu = metrics["gpu"]
    if "gpuType" in metrics:
        runner.gpu_type = metrics["gpuType"] or None
    busiest = max(
        metrics["currentCpuUsagePercentage"],
        metrics["currentMemoryUsagePercentage"],
        metrics["currentDiskUsagePercentage"],
    )
    runner.availability_score = round(min(100.0, max(0.0, 100.0 - busiest)), 2)
