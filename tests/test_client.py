"""The API client against the emulator over loopback HTTP.

Every operation is exercised for real; what the client sent is then read
back from the emulator's request log and parsed with the strict models of
``daytona-api-client`` (the contract oracle).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from daytona_api_client.models import CreateRunner, RunnerHealthcheck

from runner_agent import errors
from runner_agent.client import USER_AGENT, RunnersClient
from runner_agent.collectors import HostMonitor
from runner_agent.config import load_config
from runner_agent.credentials import Credentials, Secret
from runner_agent.models import Runner
from runner_agent.payload import healthcheck_body


def org_client(emulator, **kwargs) -> RunnersClient:
    keys = Credentials(
        organization=Secret(emulator.organization_key),
        proxy=Secret(emulator.proxy_key),
    )
    return RunnersClient(emulator.url, keys, **kwargs)


def control(emulator, method, path, **kwargs):
    response = httpx.request(method, f"{emulator.control_url}{path}", **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


@pytest.fixture
def client(emulator):
    with org_client(emulator) as made:
        yield made


@pytest.fixture
def created(client, emulator):
    return client.create_runner(region_id=emulator.region_id, name="host-1", tags=["a"])


def runner_client(emulator, created) -> RunnersClient:
    keys = Credentials(runner=created.api_key, proxy=Secret(emulator.proxy_key))
    return RunnersClient(emulator.url, keys)


def test_create_returns_the_id_and_a_key_that_stays_hidden(created):
    assert uuid.UUID(created.id)
    assert created.api_key.reveal().startswith("dtn_")
    assert created.api_key.reveal() not in repr(created)


def test_list_get_and_filter_by_region(client, created, emulator):
    listed = client.list_runners()
    in_region = client.list_runners(emulator.region_id)
    elsewhere = client.list_runners("no-such-region")
    one = client.get_runner(created.id)

    assert [r.id for r in listed] == [created.id]
    assert [r.id for r in in_region] == [created.id]
    assert elsewhere == []
    assert (one.name, one.state, one.unschedulable, one.tags) == (
        "host-1",
        "initializing",
        False,
        ("a",),
    )


def test_the_runner_key_reads_its_own_runner_and_beats(emulator, created):
    with runner_client(emulator, created) as client:
        before = client.get_me()
        client.send_healthcheck({"appVersion": "test"})
        after = client.get_me()

    assert before.id == created.id
    assert before.state == "initializing"
    assert after.state == "ready"
    assert before.api_key == created.api_key


def test_scheduling_and_draining_send_the_body_the_server_reads(client, created):
    cordoned = client.set_scheduling(created.id, unschedulable=True)
    client.set_draining(created.id, draining=True)
    uncordoned = client.set_scheduling(created.id, unschedulable=False)

    assert cordoned.unschedulable is True
    assert uncordoned.unschedulable is False


def test_delete_needs_a_cordon_first(client, created):
    with pytest.raises(errors.BadRequestError) as refused:
        client.delete_runner(created.id)
    client.set_scheduling(created.id, unschedulable=True)
    client.delete_runner(created.id)

    assert "unschedulable" in refused.value.message
    with pytest.raises(errors.NotFoundError):
        client.get_runner(created.id)


def test_a_missing_runner_and_a_missing_path_are_told_apart(emulator, created):
    keys = Credentials(runner=created.api_key)
    wrong_base = RunnersClient(emulator.url.removesuffix("/api"), keys)

    with wrong_base, pytest.raises(errors.NoSuchRouteError) as no_route:
        wrong_base.get_me()

    assert not isinstance(no_route.value, errors.NotFoundError)
    assert no_route.value.exit_code == errors.EXIT_CONFIG
    assert "api_url" in str(no_route.value)


def test_an_answer_from_something_else_than_the_api_is_a_missing_path(client):
    elsewhere = RunnersClient(
        "http://example.invalid/api",
        client.credentials,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(404, text="<html>Not Found</html>")
        ),
    )
    # A mock transport stands in for a web server that is not the control
    # plane (a misrouted proxy): none on this machine answers like that.
    with elsewhere, pytest.raises(errors.NoSuchRouteError):
        elsewhere.get_runner(str(uuid.uuid4()))


def test_proxy_lookups(emulator, client, created):
    sandbox = control(emulator, "POST", "/sandboxes", json={"runnerId": created.id})
    control(
        emulator, "POST", "/snapshots", json={"runnerId": created.id, "ref": "img:1"}
    )

    by_sandbox = client.get_by_sandbox(sandbox["id"])
    holders = client.get_by_snapshot_ref("img:1")
    full = client.get_runner_full(created.id)

    assert by_sandbox.id == created.id
    assert [h.runner_id for h in holders] == [created.id]
    assert full.api_key == created.api_key
    assert full.to_json()["apiKey"] != created.api_key.reveal()
    assert full.to_json(show_secrets=True)["apiKey"] == created.api_key.reveal()


def test_snapshots_of_this_runner(emulator, created):
    control(
        emulator, "POST", "/snapshots", json={"runnerId": created.id, "ref": "img:2"}
    )

    with runner_client(emulator, created) as client:
        assert client.get_my_snapshots() == ["img:2"]


def test_every_request_body_parses_with_the_generated_models(emulator, client, created):
    config = load_config(None, env={})
    body = healthcheck_body(config.runner, HostMonitor(config))
    with runner_client(emulator, created) as beat:
        beat.send_healthcheck(body)
    client.set_scheduling(created.id, unschedulable=True)
    client.set_draining(created.id, draining=False)

    log = control(emulator, "GET", "/requests")
    sent = {(entry["method"], entry["path"]): entry["body"] for entry in log}
    create = CreateRunner.from_dict(sent[("POST", "/api/runners")])
    check = RunnerHealthcheck.from_dict(sent[("POST", "/api/runners/healthcheck")])

    assert create.additional_properties == {}
    assert create.name == "host-1"
    assert check.additional_properties == {}
    assert check.metrics is not None
    assert check.metrics.additional_properties == {}
    assert sent[("PATCH", f"/api/runners/{created.id}/scheduling")] == {
        "unschedulable": True
    }
    assert sent[("PATCH", f"/api/runners/{created.id}/draining")] == {"draining": False}


def test_requests_carry_the_user_agent_and_organization_header(emulator, created):
    with org_client(emulator, organization_id=emulator.organization_id) as client:
        client.list_runners()

    entry = control(emulator, "GET", "/requests")[-1]

    assert entry["headers"]["User-Agent"] == USER_AGENT
    assert entry["headers"]["X-Daytona-Organization-ID"] == emulator.organization_id


def test_one_connection_is_kept_alive_across_requests(client, emulator):
    for _ in range(5):
        client.list_runners()

    ports = {entry["remotePort"] for entry in control(emulator, "GET", "/requests")}

    assert len(ports) == 1


def test_a_wrong_key_is_unauthorized_whatever_the_id(emulator):
    keys = Credentials(organization=Secret("dtn_not_a_real_key_000"))
    with (
        RunnersClient(emulator.url, keys) as client,
        pytest.raises(errors.UnauthorizedError) as caught,
    ):
        client.get_runner("not-a-uuid")

    assert caught.value.exit_code == 4
    assert caught.value.status == 401


def test_a_malformed_id_with_a_good_key_is_a_bad_request(client):
    with pytest.raises(errors.BadRequestError) as caught:
        client.get_runner("not-a-uuid")

    assert caught.value.status == 400


def test_a_key_of_the_wrong_role_is_forbidden(emulator, created):
    keys = Credentials(organization=Secret(emulator.proxy_key))
    with (
        RunnersClient(emulator.url, keys) as client,
        pytest.raises(errors.ForbiddenError),
    ):
        client.list_runners()


def test_a_taken_name_is_a_conflict_with_the_server_message(client, created, emulator):
    with pytest.raises(errors.ConflictError) as caught:
        client.create_runner(region_id=emulator.region_id, name="host-1")

    assert "already exists in this region" in caught.value.message


def test_rate_limiting_carries_retry_after(client, emulator):
    fault = {"path": "/runners", "status": 429, "retryAfter": 7}
    control(emulator, "POST", "/faults", json=fault)

    with pytest.raises(errors.RateLimitedError) as caught:
        client.list_runners()

    assert caught.value.retry_after == 7.0
    assert str(caught.value).endswith("(retry after 7s)")


def test_server_errors_and_timeouts_are_told_apart(emulator):
    control(emulator, "POST", "/faults", json={"path": "/runners", "status": 503})
    control(emulator, "POST", "/faults", json={"path": "/runners", "delay": 1.0})

    with org_client(emulator, timeout=0.2) as client:
        with pytest.raises(errors.ServerError) as server:
            client.list_runners()
        with pytest.raises(errors.ApiTimeoutError) as slow:
            client.list_runners()

    assert server.value.exit_code == 3
    assert slow.value.exit_code == 3


def test_an_unreachable_control_plane_is_a_transport_error():
    keys = Credentials(organization=Secret("dtn_whatever_123456"))
    with (
        RunnersClient("http://127.0.0.1:9", keys, timeout=1.0) as client,
        pytest.raises(errors.UnreachableError) as caught,
    ):
        client.list_runners()

    assert caught.value.exit_code == 3
    assert "cannot reach" in str(caught.value)


def test_a_missing_key_fails_before_any_request_and_says_where_to_set_it(emulator):
    with (
        RunnersClient(emulator.url, Credentials()) as client,
        pytest.raises(errors.MissingCredentialError) as caught,
    ):
        client.list_runners()

    assert "DAYTONA_API_KEY" in str(caught.value)
    assert control(emulator, "GET", "/requests") == []


def test_an_answer_that_is_not_json_is_an_invalid_response(client):
    broken = RunnersClient(
        "http://example.invalid/api",
        client.credentials,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, text="<html>")
        ),
    )
    # A mock transport stands in for a proxy that answers HTML: no server
    # on this machine answers like that on purpose.
    with broken, pytest.raises(errors.InvalidResponseError):
        broken.list_runners()


def test_path_parameters_cannot_change_the_path(client):
    with pytest.raises(errors.ApiError) as caught:
        client.get_runner("../runners")

    assert caught.value.path == "/runners/..%2Frunners"


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_is_a_value_not_a_path_step(client, value):
    with pytest.raises(errors.BadRequestError) as caught:
        client.delete_runner(value)

    assert caught.value.path == "/runners/" + "%2E" * len(value)
    assert "uuid" in caught.value.message.lower()


def test_an_empty_id_is_refused_before_any_request(client):
    with pytest.raises(errors.UsageError):
        client.get_runner("")


def test_a_hint_keeps_the_error_kind_status_and_place(client):
    with pytest.raises(errors.BadRequestError) as caught:
        client.get_runner("not-a-uuid")

    hinted = caught.value.with_hint("pass a runner id")

    assert type(hinted) is errors.BadRequestError
    assert hinted.status == 400
    assert hinted.path == caught.value.path
    assert hinted.message == f"{caught.value.message}; pass a runner id"
    assert str(hinted) == f"{caught.value}; pass a runner id"
    assert "pass a runner id" not in str(caught.value)


def test_a_runner_answer_holding_a_key_prints_it_masked_unless_asked(created):
    key = created.api_key.reveal()
    document = {
        "id": created.id,
        "name": "host-1",
        "region": "eu",
        "state": "ready",
        "unschedulable": False,
        "apiKey": key,
    }

    runner = Runner.from_api(document)

    assert runner.to_json()["apiKey"] == f"****{key[-4:]}"
    assert runner.to_json(show_secrets=True)["apiKey"] == key
    assert Runner.from_api({**document, "apiKey": None}).to_json()["apiKey"] is None


def test_cookies_from_the_server_are_neither_kept_nor_sent_back(client):
    from runner_agent.httpserver import serve_in_thread

    seen: list[str | None] = []

    def app(environ, start_response):
        seen.append(environ.get("HTTP_COOKIE"))
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "session=s1; Path=/"),
            ],
        )
        return [b"[]"]

    server = serve_in_thread(app, name="cookie-test")
    try:
        with RunnersClient(server.url, client.credentials) as cookieless:
            cookieless.list_runners()
            cookieless.list_runners()
    finally:
        server.stop()

    assert seen == [None, None]
