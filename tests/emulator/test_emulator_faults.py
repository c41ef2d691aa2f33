"""Injected faults: errors, Retry-After, delays, dropped connections, counts."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest


def inject(control, **fault):
    response = control.post("/faults", json=fault)
    assert response.status_code == 201, response.text
    return response.json()


def test_status_fault_answers_the_standard_error_once(control, org):
    inject(control, path="/runners", method="GET", status=503)

    faulty = org.get("/runners")
    healthy = org.get("/runners")

    assert faulty.status_code == 503
    body = faulty.json()
    assert body["statusCode"] == 503
    assert body["error"] == "Service Unavailable"
    assert body["path"] == "/api/runners"
    assert healthy.status_code == 200


def test_status_fault_comes_before_the_key_check(control, anonymous):
    inject(control, path="/runners", status=502)

    assert anonymous.get("/runners").status_code == 502


def test_rate_limit_fault_carries_retry_after(control, org):
    inject(control, path="/runners", status=429, retryAfter=7)

    response = org.get("/runners")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "Too Many Requests"


def test_fault_with_a_count_applies_that_many_times(control, org):
    inject(control, path="/runners", status=500, count=2)

    statuses = [org.get("/runners").status_code for _ in range(3)]

    assert statuses == [500, 500, 200]


def test_fault_with_count_minus_one_applies_until_cleared(control, org):
    inject(control, path="/runners", status=500, count=-1)
    statuses = [org.get("/runners").status_code for _ in range(4)]

    control.delete("/faults")

    assert statuses == [500] * 4
    assert org.get("/runners").status_code == 200


def test_fault_applies_only_to_its_method(control, emu, org):
    inject(control, path="/runners", method="POST", status=500)

    listed = org.get("/runners")
    created = org.post("/runners", json={"regionId": emu.region_id, "name": "ab"})

    assert listed.status_code == 200
    assert created.status_code == 500


def test_fault_path_ending_with_a_star_matches_a_prefix(control, new_runner, report):
    runner = new_runner()
    inject(control, path="/runners/*", status=500)

    response = runner.client.post("/runners/healthcheck", json=report())

    assert response.status_code == 500


def test_fault_on_another_path_leaves_the_request_alone(control, org):
    inject(control, path="/runners/me", status=500)

    assert org.get("/runners").status_code == 200


def test_delay_fault_slows_the_answer(control, org):
    inject(control, path="/runners", delay=0.3)

    started = time.monotonic()
    response = org.get("/runners")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_delay_after_applies_the_operation_before_the_client_gives_up(
    emu, control, org
):
    inject(control, path="/runners", method="POST", delayAfter=1.0)
    body = {"regionId": emu.region_id, "name": "edge-1"}

    with pytest.raises(httpx.ReadTimeout):
        org.post("/runners", json=body, timeout=0.2)

    assert [r["name"] for r in org.get("/runners").json()] == ["edge-1"]
    assert org.post("/runners", json=body).status_code == 409


def test_drop_fault_closes_the_connection_without_applying(emu, control, org):
    inject(control, path="/runners", method="POST", drop=True)
    body = {"regionId": emu.region_id, "name": "edge-1"}

    with pytest.raises(httpx.RemoteProtocolError):
        org.post("/runners", json=body)

    assert org.get("/runners").json() == []


def test_drop_after_fault_applies_then_loses_the_answer(emu, control, org):
    inject(control, path="/runners", method="POST", dropAfter=True)
    body = {"regionId": emu.region_id, "name": "edge-1"}

    with pytest.raises(httpx.RemoteProtocolError):
        org.post("/runners", json=body)

    assert [r["name"] for r in org.get("/runners").json()] == ["edge-1"]


def test_requests_after_every_kind_of_fault_are_served_normally(control, org):
    for fault in ({"drop": True}, {"dropAfter": True}, {"status": 500}):
        inject(control, path="/runners", **fault)
        with contextlib.suppress(httpx.RemoteProtocolError):
            org.get("/runners")

        assert org.get("/runners").status_code == 200


def test_faults_are_listed_and_cleared(control):
    fault = inject(control, path="/runners", status=500, count=3)

    listed = control.get("/faults").json()
    cleared = control.delete("/faults")

    assert [f["id"] for f in listed] == [fault["id"]]
    assert listed[0]["count"] == 3
    assert cleared.status_code == 204
    assert control.get("/faults").json() == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"path": "/runners"},
        {"path": "/runners", "status": 200},
        {"path": "/runners", "status": 500, "count": 0},
        {"path": "/runners", "delay": -1},
        {"path": "/runners", "drop": "yes"},
        {"path": "/runners", "status": 500, "colour": "red"},
    ],
)
def test_unusable_fault_is_refused_with_400(control, fault):
    response = control.post("/faults", json=fault)

    assert response.status_code == 400
    assert control.get("/faults").json() == []


def test_fault_shows_in_the_request_log(control, org):
    fault = inject(control, path="/runners", status=500)

    org.get("/runners")

    assert control.get("/requests").json()[-1]["fault"] == fault["id"]


def test_dropped_request_is_logged_without_a_status(control, org):
    inject(control, path="/runners", drop=True)

    with pytest.raises(httpx.RemoteProtocolError):
        org.get("/runners")

    entry = control.get("/requests").json()[-1]
    assert entry["status"] is None
    assert entry["dropped"] is True
