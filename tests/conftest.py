"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner_agent.emulator import Emulator, EmulatorSettings


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator on loopback whose clock runs fast enough for tests.

    The periodic check runs every 50 ms, a silent runner is unresponsive
    after 0.5 s and a draining runner is decommissioned on the third idle
    check (about 150 ms).
    """
    settings = EmulatorSettings(
        check_interval=0.05, unresponsive_after=0.5, decommission_checks=3
    )
    with Emulator.start(settings) as running:
        yield running
