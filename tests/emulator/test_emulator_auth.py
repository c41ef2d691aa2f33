"""Who may call what: 401 for missing or unknown keys, 403 for the wrong one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from runner_agent.emulator import Emulator, EmulatorSettings

ANY_ID = "6b0c7d1e-3a43-4f0e-9a53-3f1f0b6c2d11"

ORGANIZATION_CALLS = [
    ("GET", "/runners", None),
    ("POST", "/runners", {"regionId": ANY_ID, "name": "nope"}),
    ("GET", f"/runners/{ANY_ID}", None),
    ("DELETE", f"/runners/{ANY_ID}", None),
    ("PATCH", f"/runners/{ANY_ID}/scheduling", {"unschedulable": True}),
    ("PATCH", f"/runners/{ANY_ID}/draining", {"draining": True}),
]
RUNNER_CALLS = [
    ("GET", "/runners/me", None),
    ("GET", "/runners/me/snapshots", None),
    ("POST", "/runners/healthcheck", {"appVersion": "v1"}),
]
PROXY_CALLS = [
    ("GET", f"/runners/by-sandbox/{ANY_ID}", None),
    ("GET", "/runners/by-snapshot-ref?ref=img:1", None),
    ("GET", f"/runners/{ANY_ID}/full", None),
]
ALL_CALLS = ORGANIZATION_CALLS + RUNNER_CALLS + PROXY_CALLS


def call(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return client.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body"), ALL_CALLS)
def test_missing_key_is_401_on_every_operation(anonymous, method, path, body):
    response = call(anonymous, method, path, body)

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize(("method", "path", "body"), ALL_CALLS)
def test_unknown_key_is_401_on_every_operation(clients, method, path, body):
    response = call(clients("dtn_not-a-key"), method, path, body)

    assert response.status_code == 401


def test_unknown_key_gets_401_even_with_a_malformed_id(clients):
    response = clients("dtn_not-a-key").get("/runners/not-a-uuid")

    assert response.status_code == 401


def test_malformed_id_with_a_valid_key_is_400(org):
    response = org.get("/runners/not-a-uuid")

    assert response.status_code == 400
    assert "UUID" in response.json()["message"]


@pytest.mark.parametrize(("method", "path", "body"), RUNNER_CALLS + PROXY_CALLS)
def test_organization_key_is_refused_outside_its_role(org, method, path, body):
    assert call(org, method, path, body).status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), ORGANIZATION_CALLS + PROXY_CALLS)
def test_runner_key_is_refused_outside_its_role(new_runner, method, path, body):
    runner = new_runner()

    assert call(runner.client, method, path, body).status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), ORGANIZATION_CALLS + RUNNER_CALLS)
def test_proxy_key_is_refused_outside_its_role(proxy, method, path, body):
    assert call(proxy, method, path, body).status_code == 403


def test_organization_key_may_administer_runners(org, new_runner):
    runner = new_runner()

    assert org.get("/runners").status_code == 200
    assert org.get(f"/runners/{runner.id}").status_code == 200
    cordon = org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})
    assert cordon.status_code == 200
    drain = org.patch(f"/runners/{runner.id}/draining", json={"draining": True})
    assert drain.status_code == 200
    assert org.delete(f"/runners/{runner.id}").status_code == 204


def test_runner_key_may_read_itself_and_report_health(new_runner):
    runner = new_runner()

    assert runner.client.get("/runners/me").json()["id"] == runner.id
    assert runner.client.get("/runners/me/snapshots").json() == []
    health = runner.client.post("/runners/healthcheck", json={"appVersion": "v1"})
    assert health.status_code == 200


def test_proxy_key_may_use_the_lookups(proxy, control, new_runner):
    runner = new_runner()
    sandbox = control.post("/sandboxes", json={"runnerId": runner.id}).json()
    control.post("/snapshots", json={"runnerId": runner.id, "ref": "img:1"})

    assert proxy.get(f"/runners/{runner.id}/full").json()["apiKey"] == runner.key
    by_sandbox = proxy.get(f"/runners/by-sandbox/{sandbox['id']}")
    assert by_sandbox.json()["id"] == runner.id
    by_ref = proxy.get("/runners/by-snapshot-ref", params={"ref": "img:1"})
    assert [entry["runnerId"] for entry in by_ref.json()] == [runner.id]


@pytest.mark.parametrize(
    ("permission", "method", "path", "body"),
    [
        ("read", "GET", "/runners", None),
        ("read", "GET", f"/runners/{ANY_ID}", None),
        ("write", "POST", "/runners", {"regionId": ANY_ID, "name": "nope"}),
        ("write", "PATCH", f"/runners/{ANY_ID}/draining", {"draining": True}),
        ("write", "PATCH", f"/runners/{ANY_ID}/scheduling", {"unschedulable": True}),
        ("delete", "DELETE", f"/runners/{ANY_ID}", None),
    ],
)
def test_extra_key_without_the_permission_is_403(
    control, clients, permission, method, path, body
):
    others = sorted({"read", "write", "delete"} - {permission})
    key = control.post("/keys", json={"permissions": others}).json()["key"]

    response = call(clients(key), method, path, body)

    assert response.status_code == 403
    assert permission in response.json()["message"]


def test_extra_key_with_the_permission_is_allowed(control, clients):
    key = control.post("/keys", json={"permissions": ["read"]}).json()["key"]

    assert clients(key).get("/runners").status_code == 200


def test_foreign_organization_header_is_403(org):
    response = org.get(
        "/runners", headers={"X-Daytona-Organization-ID": str(uuid.uuid4())}
    )

    assert response.status_code == 403


def test_own_organization_header_is_accepted(emu, org):
    response = org.get(
        "/runners", headers={"X-Daytona-Organization-ID": emu.organization_id}
    )

    assert response.status_code == 200


def test_key_of_a_deleted_runner_finds_no_runner(org, new_runner):
    runner = new_runner()
    org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})
    org.delete(f"/runners/{runner.id}")

    me = runner.client.get("/runners/me")
    beat = runner.client.post("/runners/healthcheck", json={"appVersion": "x"})

    assert me.status_code == 404
    assert beat.status_code == 404
    assert runner.id in me.json()["message"]


def test_repeated_refused_keys_lock_the_client_out_with_retry_after():
    settings = EmulatorSettings(auth_failure_limit=3, auth_failure_window=30)
    with Emulator.start(settings) as emulator, httpx.Client() as client:
        for _ in range(3):
            client.get(f"{emulator.url}/runners", headers={"Authorization": "Bearer x"})
        good = {"Authorization": f"Bearer {emulator.organization_key}"}

        response = client.get(f"{emulator.url}/runners", headers=good)

    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 30
