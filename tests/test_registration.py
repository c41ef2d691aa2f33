"""Registration: once per host, and safe when a create's answer is lost."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret
from runner_agent.registration import RegistrationRequest, register
from runner_agent.state import PENDING_FILE, StateDir


def client_for(emulator, timeout: float = 5.0) -> RunnersClient:
    keys = Credentials(organization=Secret(emulator.organization_key))
    return RunnersClient(emulator.url, keys, timeout=timeout)


def runners(emulator) -> list[dict]:
    state = httpx.get(f"{emulator.control_url}/state").json()
    return state["runners"]


def fault(emulator, **spec) -> None:
    httpx.post(f"{emulator.control_url}/faults", json=spec).raise_for_status()


def lose_the_create_answer(emulator, state, request) -> None:
    """Register while the server creates the runner but answers too late."""
    fault(emulator, method="POST", path="/runners", delayAfter=2.0)
    with (
        client_for(emulator, timeout=0.3) as client,
        pytest.raises(errors.ApiTimeoutError),
    ):
        register(client, state, request)


@pytest.fixture
def request_(emulator) -> RegistrationRequest:
    return RegistrationRequest(region_id=emulator.region_id, name="host-1")


def test_register_creates_the_runner_and_keeps_its_identity(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        result = register(client, state, request_)

    stored = state.load_identity()
    assert result.created is True
    assert stored == result.identity
    assert [r["id"] for r in runners(emulator)] == [stored.runner_id]
    assert not state.file(PENDING_FILE).exists()


def test_register_twice_creates_one_runner(emulator, tmp_path, request_):
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        first = register(client, state, request_)
        second = register(client, state, request_)

    assert second.created is False
    assert second.identity == first.identity
    assert len(runners(emulator)) == 1


def test_a_deleted_runner_is_reported_and_force_registers_anew(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        old = register(client, state, request_).identity
        client.set_scheduling(old.runner_id, unschedulable=True)
        client.delete_runner(old.runner_id)

        with pytest.raises(errors.RunnerGoneError) as gone:
            register(client, state, request_)
        renewed = register(client, state, request_, force=True)

    assert "--force" in str(gone.value)
    assert gone.value.exit_code == 5
    assert renewed.created
    assert renewed.replaced == old.runner_id
    assert renewed.identity.runner_id != old.runner_id
    assert len(list(tmp_path.glob("identity.replaced-*.json"))) == 1


def test_a_lost_create_answer_is_reconciled_on_the_next_attempt(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    lose_the_create_answer(emulator, state, request_)
    orphan = runners(emulator)[0]["id"]

    with client_for(emulator) as client:
        result = register(client, state, request_)

    remaining = runners(emulator)
    assert state.file(PENDING_FILE).exists() is False
    assert result.removed_orphan == orphan
    assert [r["id"] for r in remaining] == [result.identity.runner_id]
    assert result.identity.runner_id != orphan


def started_earlier(state: StateDir, minutes: float) -> None:
    """Date the pending record back, as if the lost create were that old."""
    pending = state.read_json(PENDING_FILE)
    started = datetime.fromisoformat(pending["startedAt"].replace("Z", "+00:00"))
    earlier = started - timedelta(minutes=minutes)
    pending["startedAt"] = earlier.isoformat().replace("+00:00", "Z")
    state.write_json(PENDING_FILE, pending)


def test_a_runner_created_within_15_minutes_of_the_record_is_the_orphan(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    lose_the_create_answer(emulator, state, request_)
    orphan = runners(emulator)[0]["id"]
    started_earlier(state, 10)

    with client_for(emulator) as client:
        result = register(client, state, request_)

    assert result.removed_orphan == orphan
    assert [r["id"] for r in runners(emulator)] == [result.identity.runner_id]


def test_a_runner_created_an_hour_from_the_record_is_never_removed(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    lose_the_create_answer(emulator, state, request_)
    orphan = runners(emulator)[0]["id"]
    started_earlier(state, 60)

    with (
        client_for(emulator) as client,
        pytest.raises(errors.ConflictError, match="not a leftover") as refused,
    ):
        register(client, state, request_)

    assert refused.value.exit_code == errors.EXIT_FAILED
    assert [r["id"] for r in runners(emulator)] == [orphan]
    assert state.load_identity() is None


def test_a_runner_of_that_name_that_checked_in_is_never_removed(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    lose_the_create_answer(emulator, state, request_)
    # Someone holds that runner's key and uses it: it is not an orphan.
    key = next(iter(httpx.get(f"{emulator.control_url}/state").json()["runners"]))
    beat = httpx.post(
        f"{emulator.url}/runners/healthcheck",
        json={"appVersion": "x"},
        headers={"Authorization": f"Bearer {key['apiKey']}"},
    )
    beat.raise_for_status()

    with (
        client_for(emulator) as client,
        pytest.raises(errors.ConflictError, match="not a leftover"),
    ):
        register(client, state, request_)

    assert len(runners(emulator)) == 1


def test_a_refused_create_leaves_no_pending_record(emulator, tmp_path):
    state = StateDir(tmp_path)
    request = RegistrationRequest(region_id="no-such-region", name="host-1")
    with client_for(emulator) as client, pytest.raises(errors.ApiError):
        register(client, state, request)

    assert not state.file(PENDING_FILE).exists()
    assert state.load_identity() is None


def test_a_name_taken_by_another_host_says_how_to_fix_it(emulator, tmp_path, request_):
    with client_for(emulator) as client:
        register(client, StateDir(tmp_path / "other-host"), request_)
        with pytest.raises(errors.ConflictError, match="--name"):
            register(client, StateDir(tmp_path / "this-host"), request_)


def test_registering_without_a_region_is_a_configuration_error(emulator, tmp_path):
    with (
        client_for(emulator) as client,
        pytest.raises(errors.ConfigError, match=r"runner.region_id"),
    ):
        register(client, StateDir(tmp_path), RegistrationRequest("", "host-1"))


@pytest.fixture
def garbling_api() -> Iterator[str]:
    """A stand-in control plane whose create answers 201 without the key.

    The emulator only answers as the API promises, so this broken answer
    needs a server of its own.
    """

    class Garbled(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps({"id": "5f0c3d8e-0000-4000-8000-000000000001"})
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_create_answered_unusably_keeps_the_pending_record(
    tmp_path, request_, garbling_api
):
    state = StateDir(tmp_path)
    keys = Credentials(organization=Secret("dtn_organization_key_0000"))
    with (
        RunnersClient(garbling_api, keys, timeout=5.0) as client,
        pytest.raises(errors.InvalidResponseError),
    ):
        register(client, state, request_)

    assert state.file(PENDING_FILE).exists()
    assert state.load_identity() is None
