"""The daemon's local endpoint, with the REST adapter mounted under /v1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from runner_agent.context import AgentContext
from runner_agent.daemon.local_api import LocalApi
from runner_agent.daemon.status import AgentStatus
from runner_agent.daemon.telemetry import Telemetry
from runner_agent.httpserver import serve_in_thread
from runner_agent.rest_adapter import build_rest_app


@pytest.fixture
def local(make_rest, emulator) -> Iterator[httpx.Client]:
    context = AgentContext(make_rest().config)
    status = AgentStatus(interval=5.0)
    app = LocalApi(status, Telemetry(status), mounts={"/v1": build_rest_app(context)})
    server = serve_in_thread(app, name="local-api-test")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    server.stop()
    context.close()


def test_not_ready_answers_503_with_its_standard_reason(local):
    answer = local.get("/readyz")

    assert answer.status_code == 503
    assert answer.reason_phrase == "Service Unavailable"
    assert answer.json()["ready"] is False


def test_the_mounted_adapter_answers_under_its_prefix(local, registered):
    answer = local.get("/v1/runners")

    assert answer.status_code == 200
    assert [runner["id"] for runner in answer.json()] == [registered.id]
