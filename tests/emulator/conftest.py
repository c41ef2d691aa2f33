"""Fixtures for the emulator's own tests.

``emu`` is an emulator whose time only moves when a test says so: its
periodic check never runs by itself (tests call ``/_emulator/tick``) and
its clock is ``clock``, advanced by hand.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from runner_agent.emulator import Emulator, EmulatorSettings

# Building an httpx client loads the CA bundle (tens of milliseconds); the
# emulator speaks plain HTTP, so every client shares one context.
TLS = ssl.create_default_context()


class ManualClock:
    """Epoch seconds that move only when advanced."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RunnerHandle:
    """A runner created through the API, and a client holding its key."""

    id: str
    key: str
    client: httpx.Client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Emulator]:
    settings = EmulatorSettings(check_interval=3600, decommission_checks=3)
    with Emulator.start(settings, clock=clock) as running:
        yield running


@pytest.fixture
def clients(emu: Emulator) -> Iterator[Callable[..., httpx.Client]]:
    """Make clients of the API (or of ``base_url``) closed after the test."""
    made: list[httpx.Client] = []

    def make(key: str | None = None, base_url: str | None = None) -> httpx.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        client = httpx.Client(base_url=base_url or emu.url, headers=headers, verify=TLS)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def org(emu: Emulator, clients: Callable[..., httpx.Client]) -> httpx.Client:
    return clients(emu.organization_key)


@pytest.fixture
def proxy(emu: Emulator, clients: Callable[..., httpx.Client]) -> httpx.Client:
    return clients(emu.proxy_key)


@pytest.fixture
def anonymous(clients: Callable[..., httpx.Client]) -> httpx.Client:
    return clients()


@pytest.fixture
def control(emu: Emulator, clients: Callable[..., httpx.Client]) -> httpx.Client:
    return clients(base_url=emu.control_url)


@pytest.fixture
def new_runner(
    emu: Emulator, org: httpx.Client, clients: Callable[..., httpx.Client]
) -> Callable[..., RunnerHandle]:
    """Create a runner (name ``runner-N`` unless given) and a client for it."""
    counter = iter(range(1, 1000))

    def create(name: str | None = None, **body: Any) -> RunnerHandle:
        name = name or f"runner-{next(counter)}"
        answer = org.post(
            "/runners", json={"regionId": emu.region_id, "name": name, **body}
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        return RunnerHandle(
            created["id"], created["apiKey"], clients(created["apiKey"])
        )

    return create


@pytest.fixture
def report() -> Callable[..., dict[str, Any]]:
    """Build a valid healthcheck body; keyword arguments replace its fields."""

    def build(**changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "appVersion": "v0.1.0",
            "domain": "runner.example.test",
            "apiUrl": "http://runner.example.test:3003",
            "proxyUrl": "http://runner.example.test:8080",
            "metrics": {
                "currentCpuLoadAverage": 0.25,
                "currentCpuUsagePercentage": 12.5,
                "currentMemoryUsagePercentage": 40.0,
                "currentDiskUsagePercentage": 55.5,
                "currentAllocatedCpu": 4,
                "currentAllocatedMemoryGiB": 8,
                "currentAllocatedDiskGiB": 30,
                "currentSnapshotCount": 3,
                "currentStartedSandboxes": 2,
                "cpu": 16,
                "memoryGiB": 64,
                "diskGiB": 500,
                "gpu": 1,
                "gpuType": "nvidia-a10",
            },
            "serviceHealth": [{"serviceName": "docker", "healthy": True}],
        }
        body.update(changes)
        return body

    return build


@pytest.fixture
def tick(control: httpx.Client) -> Callable[[int], dict[str, Any]]:
    """Run ``n`` periodic checks through the control surface."""

    def run(times: int = 1) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for _ in range(times):
            response = control.post("/tick")
            assert response.status_code == 200
            answer = response.json()
        return answer

    return run
