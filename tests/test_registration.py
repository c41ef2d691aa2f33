"""Registration: once per host, and safe when a create's answer is lost."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret
from runner_agent.registration import (
    REGISTRATION_TAG_PREFIX,
    RegistrationRequest,
    register,
)
from runner_agent.state import PENDING_FILE, StateDir, utc_now


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


def decommission(client: RunnersClient, runner_id: str) -> None:
    """Cordon and drain a runner and wait for the control plane to retire it."""
    client.set_scheduling(runner_id, unschedulable=True)
    client.set_draining(runner_id, draining=True)
    deadline = time.monotonic() + 10
    while client.get_runner(runner_id).state != "decommissioned":
        assert time.monotonic() < deadline, "the runner was never decommissioned"
        time.sleep(0.05)


def test_a_decommissioned_runner_is_reported_and_force_registers_anew(
    emulator, tmp_path, request_
):
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        old = register(client, state, request_).identity
        decommission(client, old.runner_id)

        with pytest.raises(errors.RunnerGoneError) as retired:
            register(client, state, request_)
        renewed = register(client, state, request_, force=True)

    message = str(retired.value)
    assert retired.value.exit_code == errors.EXIT_NOT_FOUND
    assert "decommissioned" in message
    assert "runner-agent deregister" in message
    assert "--force" in message
    assert renewed.created
    assert renewed.replaced == old.runner_id
    assert [r["id"] for r in runners(emulator)] == [renewed.identity.runner_id]
    assert len(list(tmp_path.glob("identity.replaced-*.json"))) == 1


def test_a_pending_record_beside_a_working_identity_is_cleared(
    emulator, tmp_path, request_
):
    """Left by a stop between the identity write and the record's removal."""
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        first = register(client, state, request_)
        state.write_json(PENDING_FILE, {"name": "host-1", "token": "0" * 16})

        again = register(client, state, request_)

    assert again.created is False
    assert again.identity == first.identity
    assert not state.file(PENDING_FILE).exists()


def test_the_reported_addresses_are_kept_with_the_identity(emulator, tmp_path):
    state = StateDir(tmp_path)
    request = RegistrationRequest(
        region_id=emulator.region_id,
        name="host-1",
        domain="host-1.runners.example",
        runner_api_url="https://host-1.runners.example:3003",
        proxy_url="https://proxy.runners.example",
    )
    with client_for(emulator) as client:
        result = register(client, state, request)

    stored = state.load_identity()
    assert stored == result.identity
    assert stored.domain == "host-1.runners.example"
    assert stored.runner_api_url == "https://host-1.runners.example:3003"
    assert stored.proxy_url == "https://proxy.runners.example"


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


@pytest.mark.parametrize("minutes", [10, 60, 24 * 60])
def test_an_orphan_carrying_the_record_s_tag_is_removed_however_old(
    emulator, tmp_path, request_, minutes
):
    state = StateDir(tmp_path)
    lose_the_create_answer(emulator, state, request_)
    orphan = runners(emulator)[0]["id"]
    started_earlier(state, minutes)

    with client_for(emulator) as client:
        result = register(client, state, request_)

    assert result.removed_orphan == orphan
    assert [r["id"] for r in runners(emulator)] == [result.identity.runner_id]


def test_the_create_carries_the_pending_record_s_token_as_a_tag(emulator, tmp_path):
    state = StateDir(tmp_path)
    request = RegistrationRequest(
        region_id=emulator.region_id, name="host-1", tags=("gpu",)
    )
    lose_the_create_answer(emulator, state, request)

    token = state.read_json(PENDING_FILE)["token"]
    assert len(token) == 16
    assert runners(emulator)[0]["tags"] == ["gpu", f"{REGISTRATION_TAG_PREFIX}{token}"]


def test_the_registration_tag_stays_out_of_the_identity(emulator, tmp_path, request_):
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        result = register(client, state, request_)

    assert REGISTRATION_TAG_PREFIX not in state.file("identity.json").read_text()
    assert REGISTRATION_TAG_PREFIX not in json.dumps(result.identity.to_json())


def test_a_configured_tag_in_the_registration_s_form_is_refused(emulator, tmp_path):
    request = RegistrationRequest(
        region_id=emulator.region_id,
        name="host-1",
        tags=(f"{REGISTRATION_TAG_PREFIX}0123456789abcdef",),
    )
    with (
        client_for(emulator) as client,
        pytest.raises(errors.ConfigError, match=r"runner\.tags"),
    ):
        register(client, StateDir(tmp_path), request)

    assert runners(emulator) == []


def fail_the_create(emulator) -> None:
    """The next create is refused with a 503 before any runner is made."""
    fault(emulator, method="POST", path="/runners", status=503)


def test_another_hosts_runner_of_that_name_is_never_removed(emulator, tmp_path):
    """Hosts cloned from one image share a host name, the default runner name."""
    request = RegistrationRequest(region_id=emulator.region_id, name="dup")
    this_host, other_host = StateDir(tmp_path / "a"), StateDir(tmp_path / "b")
    fail_the_create(emulator)
    with client_for(emulator) as client:
        with pytest.raises(errors.ServerError):
            register(client, this_host, request)
        others = register(client, other_host, request).identity

        with pytest.raises(errors.ConflictError, match="--name") as refused:
            register(client, this_host, request)
        client.credentials = client.credentials.with_runner(others.token)
        still_there = client.get_me()

    assert refused.value.exit_code == errors.EXIT_FAILED
    assert still_there.id == others.runner_id
    assert [r["id"] for r in runners(emulator)] == [others.runner_id]
    assert this_host.load_identity() is None


def test_a_refused_name_after_a_lost_create_leaves_another_name_free(
    emulator, tmp_path
):
    request = RegistrationRequest(region_id=emulator.region_id, name="dup")
    this_host = StateDir(tmp_path / "a")
    fail_the_create(emulator)
    with client_for(emulator) as client:
        with pytest.raises(errors.ServerError):
            register(client, this_host, request)
        register(client, StateDir(tmp_path / "b"), request)
        with pytest.raises(errors.ConflictError):
            register(client, this_host, request)

        renamed = register(
            client, this_host, RegistrationRequest(emulator.region_id, "dup-2")
        )

    assert renamed.created
    assert sorted(r["name"] for r in runners(emulator)) == ["dup", "dup-2"]


def test_a_pending_record_without_a_token_never_removes_a_runner(
    emulator, tmp_path, request_
):
    """A record an earlier version wrote cannot prove whose runner it is."""
    state = StateDir(tmp_path)
    with client_for(emulator) as client:
        client.create_runner(region_id=emulator.region_id, name="host-1")
        state.write_json(
            PENDING_FILE,
            {"name": "host-1", "regionId": emulator.region_id, "startedAt": utc_now()},
        )

        with pytest.raises(errors.ConflictError, match="--name"):
            register(client, state, request_)

    assert len(runners(emulator)) == 1
    assert not state.file(PENDING_FILE).exists()


def test_a_runner_with_the_record_s_tag_that_checked_in_is_never_removed(
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
        pytest.raises(errors.ConflictError, match="has checked in"),
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
