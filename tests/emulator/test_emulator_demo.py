"""The demo's agent configuration registers against the emulator."""

from __future__ import annotations

import socket

import pytest

from runner_agent.client import RunnersClient
from runner_agent.config.values import RUNNER_NAME
from runner_agent.demo import demo_config


@pytest.mark.parametrize("host", ["büro", "x", "h" * 300, "web_01.example"])
def test_the_demo_runner_name_is_valid_whatever_the_host_name(
    emulator, tmp_path, monkeypatch, host
):
    # The machine's own host name cannot be changed here: the one the
    # demo reads is replaced for the test.
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    config = demo_config(emulator, tmp_path, interval=1.0)

    with RunnersClient(config.api_url, config.credentials) as client:
        created = client.create_runner(
            region_id=emulator.region_id, name=config.runner.name
        )

    assert RUNNER_NAME.match(config.runner.name)
    assert config.runner.name.startswith("demo-")
    assert emulator.store.runner(created.id)["name"] == config.runner.name
