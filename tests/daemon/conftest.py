"""A real ``runner-agent run`` process, its JSON log read as it happens."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner_agent.emulator import Emulator, EmulatorSettings
from tests.cli.conftest import COMMAND, base_env


class AgentProcess:
    """One daemon under test."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "run", *args],
            env={**env, "RUNNER_AGENT_LOG_FORMAT": "json", "PYTHONFAULTHANDLER": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.raw.append(line)
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.events.append({"event": "unparsed", "line": line})

    def named(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if event.get("event") == name]

    def wait_for(
        self,
        name: str,
        where: Callable[[dict[str, Any]], bool] = lambda event: True,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.named(name):
                if where(event):
                    return event
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no {name} event; log:\n{''.join(self.raw)}")

    @property
    def local_url(self) -> str:
        return self.wait_for("local_api_listening")["url"]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Python's fault handler prints every thread's stack on SIGABRT.
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(10)
            self._reader.join(5)
            raise AssertionError(f"no stop in {timeout}s:\n{self.log_text()}") from None
        self._reader.join(5)
        return code

    def log_text(self) -> str:
        with self._lock:
            return "".join(self.raw)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Timings for a daemon beating every few hundred milliseconds."""
    settings = EmulatorSettings(
        check_interval=0.1, unresponsive_after=5.0, decommission_checks=3
    )
    with Emulator.start(settings) as running:
        yield running


@pytest.fixture
def config_file(tmp_path, emulator) -> Callable[[str], Path]:
    """Write a configuration file for the agent; returns its path."""

    def write(extra: str = "") -> Path:
        path = tmp_path / "config.toml"
        path.write_text(
            f'api_url = "{emulator.url}"\n'
            f'state_dir = "{tmp_path / "state"}"\n'
            f"[runner]\n"
            f'region_id = "{emulator.region_id}"\n'
            f'name = "daemon-test"\n'
            f"[local_api]\n"
            f'listen = "127.0.0.1:0"\n' + extra
        )
        return path

    return write


@pytest.fixture
def start_agent(emulator, tmp_path) -> Iterator[Callable[..., AgentProcess]]:
    """Start daemons; every one left running is stopped at the end."""
    started: list[AgentProcess] = []

    def start(config: Path, *args: str, **env: str) -> AgentProcess:
        environment = base_env(
            DAYTONA_API_KEY=emulator.organization_key,
            RUNNER_AGENT_CONFIG=str(config),
            **env,
        )
        agent = AgentProcess(list(args), environment)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(5)


def healthchecks(emulator) -> list[dict[str, Any]]:
    """The healthcheck requests the emulator received, oldest first."""
    log = httpx.get(f"{emulator.control_url}/requests").json()
    return [entry for entry in log if entry["path"] == "/api/runners/healthcheck"]


def control(emulator, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{emulator.control_url}{path}", **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def org(emulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {emulator.organization_key}"}
    return httpx.request(method, f"{emulator.url}{path}", headers=headers, **kwargs)


def set_unschedulable(emulator, runner_id: str, value: bool) -> None:
    """Cordon or uncordon a runner as an operator would, with the org key."""
    path = f"/runners/{runner_id}/scheduling"
    org(emulator, "PATCH", path, json={"unschedulable": value}).raise_for_status()


def delete_runner(emulator, runner_id: str) -> None:
    set_unschedulable(emulator, runner_id, True)
    org(emulator, "DELETE", f"/runners/{runner_id}").raise_for_status()


def the_runner(emulator) -> dict[str, Any]:
    runners = control(emulator, "GET", "/state")["runners"]
    assert len(runners) == 1
    return runners[0]


def seconds(entry) -> float:
    """When the emulator logged a request, in Unix time."""
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def gaps(entries) -> list[float]:
    times = [seconds(entry) for entry in entries]
    return [later - earlier for earlier, later in pairwise(times)]


def wait_until(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def requests_to(emulator, method: str, path_start: str) -> list[dict[str, Any]]:
    """The requests logged for ``method`` on paths under ``/api`` + ``path_start``."""
    log = httpx.get(f"{emulator.control_url}/requests").json()
    return [
        entry
        for entry in log
        if entry["method"] == method and entry["path"].startswith("/api" + path_start)
    ]


def inject(emulator, **fault: Any) -> None:
    """Put a fault in force (see runner_agent.emulator.faults)."""
    control(emulator, "POST", "/faults", json=fault)
