"""Running the real command line in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

COMMAND = [sys.executable, "-m", "runner_agent"]


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no keys or settings leak in from the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAYTONA_", "RUNNER_AGENT_", "CREDENTIALS_"))
    }
    env["RUNNER_AGENT_CONFIG"] = os.devnull
    env.update(extra)
    return env


@pytest.fixture
def agent_env(emulator, tmp_path) -> dict[str, str]:
    """Environment pointing the agent at the emulator, state in tmp_path."""
    return base_env(
        DAYTONA_API_URL=emulator.url,
        DAYTONA_API_KEY=emulator.organization_key,
        DAYTONA_PROXY_API_KEY=emulator.proxy_key,
        RUNNER_AGENT_STATE_DIR=str(tmp_path / "state"),
        RUNNER_AGENT_LISTEN="127.0.0.1:0",
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kw
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, *args],
            env=env if env is not None else base_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kw,
        )

    return run


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def emulator():
    """An emulator whose clock suits subprocesses, which take a while to start."""
    from runner_agent.emulator import Emulator, EmulatorSettings

    settings = EmulatorSettings(
        check_interval=0.1, unresponsive_after=30.0, decommission_checks=3
    )
    with Emulator.start(settings) as running:
        yield running
