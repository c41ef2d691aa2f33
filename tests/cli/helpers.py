"""Setting the emulator up from the test process, and running commands at once.

Preparing a runner in-process takes milliseconds where a ``register``
subprocess takes most of a second, so tests prepare their world here and
spend subprocesses only on the command they are about.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret
from runner_agent.registration import RegistrationRequest, register
from runner_agent.state import Identity, StateDir
from tests.cli.conftest import COMMAND

METRICS = {
    "currentCpuLoadAverage": 0.2,
    "currentCpuUsagePercentage": 12.0,
    "currentMemoryUsagePercentage": 40.0,
    "currentDiskUsagePercentage": 55.0,
    "currentAllocatedCpu": 2,
    "currentAllocatedMemoryGiB": 4,
    "currentAllocatedDiskGiB": 20,
    "currentSnapshotCount": 1,
    "currentStartedSandboxes": 2,
    "cpu": 8,
    "memoryGiB": 32,
    "diskGiB": 200,
}


def org_client(emulator) -> RunnersClient:
    keys = Credentials(organization=Secret(emulator.organization_key))
    return RunnersClient(emulator.url, keys, timeout=10.0)


def registered(emulator, state_dir: Path, name: str = "host-1") -> Identity:
    """A runner created and stored in ``state_dir``, as register would."""
    request = RegistrationRequest(region_id=emulator.region_id, name=name)
    with org_client(emulator) as client:
        return register(client, StateDir(state_dir), request).identity


def beat(emulator, token: str, **metrics: float) -> None:
    """One accepted healthcheck with the runner's own key."""
    body = {"appVersion": "test", "metrics": {**METRICS, **metrics}}
    response = httpx.post(
        f"{emulator.url}/runners/healthcheck",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()


def control(emulator, verb: str, path: str, body: Any = None) -> Any:
    response = httpx.request(verb, f"{emulator.control_url}/{path}", json=body)
    response.raise_for_status()
    return response.json() if response.content else None


def runners(emulator) -> list[dict[str, Any]]:
    """Every runner as the control surface shows it (draining flag included)."""
    return control(emulator, "GET", "state")["runners"]


def fault(emulator, **spec: Any) -> None:
    control(emulator, "POST", "faults", spec)


def stored_token(state_dir: Path) -> str:
    return json.loads((state_dir / "identity.json").read_text())["runnerToken"]


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(
    process: subprocess.Popen[str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_together(
    commands: list[tuple[str, ...]], env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands run side by side; their results in order."""
    processes = [start(*command, env=env) for command in commands]
    return [finish(process) for process in processes]


def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until ``condition`` gives something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.05)
