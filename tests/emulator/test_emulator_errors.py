"""Error answers: their shape, 404s, the 409 on a taken name."""

from __future__ import annotations

import re
import uuid

import pytest

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_error_body_has_path_timestamp_status_error_and_message(org):
    response = org.get("/runners/by-snapshot-ref", params={"x": "1"})

    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"path", "timestamp", "statusCode", "error", "message"}
    assert body["path"] == "/api/runners/by-snapshot-ref?x=1"
    assert ISO_UTC.match(body["timestamp"])
    assert body["statusCode"] == response.status_code == 403
    assert body["error"] == "Forbidden"


def test_unknown_path_is_404_in_the_error_shape(org):
    response = org.get("/sandboxes")

    assert response.status_code == 404
    assert response.json()["message"] == "Cannot GET /api/sandboxes"
    assert response.json()["error"] == "Not Found"


def test_path_outside_the_api_prefix_is_404(emu, anonymous):
    response = anonymous.get(emu.url.removesuffix("/api") + "/runners")

    assert response.status_code == 404
    assert response.json()["path"] == "/runners"


def test_method_a_path_does_not_take_is_404_like_the_control_plane(org):
    response = org.put("/runners", json={})

    assert response.status_code == 404
    assert response.json()["message"] == "Cannot PUT /api/runners"


def test_unknown_path_is_404_even_without_a_key(anonymous):
    assert anonymous.get("/nothing-here").status_code == 404


def test_unknown_runner_is_404_naming_it(org):
    missing = str(uuid.uuid4())

    response = org.get(f"/runners/{missing}")

    assert response.status_code == 404
    assert missing in response.json()["message"]


def test_unknown_runner_is_404_for_the_proxy_too(proxy):
    assert proxy.get(f"/runners/{uuid.uuid4()}/full").status_code == 404


def test_unknown_sandbox_is_404_naming_it(proxy):
    missing = str(uuid.uuid4())

    response = proxy.get(f"/runners/by-sandbox/{missing}")

    assert response.status_code == 404
    assert missing in response.json()["message"]


def test_destroyed_sandbox_is_404(proxy, control, new_runner):
    runner = new_runner()
    sandbox = control.post(
        "/sandboxes", json={"runnerId": runner.id, "state": "destroyed"}
    ).json()

    assert proxy.get(f"/runners/by-sandbox/{sandbox['id']}").status_code == 404


def test_second_create_with_the_same_name_is_409(emu, org, new_runner):
    new_runner("edge-1")

    response = org.post("/runners", json={"regionId": emu.region_id, "name": "edge-1"})

    assert response.status_code == 409
    assert response.json()["message"] == (
        "Runner with name edge-1 already exists in this region"
    )
    assert len(org.get("/runners").json()) == 1


def test_name_is_free_again_once_the_runner_is_deleted(emu, org, new_runner):
    runner = new_runner("edge-1")
    org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})
    org.delete(f"/runners/{runner.id}")

    response = org.post("/runners", json={"regionId": emu.region_id, "name": "edge-1"})

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("DELETE", "", None),
        ("PATCH", "/scheduling", {"unschedulable": True}),
        ("PATCH", "/draining", {"draining": True}),
    ],
)
def test_changes_to_an_unknown_runner_are_404(org, method, suffix, body):
    missing = str(uuid.uuid4())

    response = org.request(method, f"/runners/{missing}{suffix}", json=body)

    assert response.status_code == 404
    assert missing in response.json()["message"]
