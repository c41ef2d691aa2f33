"""The REST adapter forwards each operation and keeps keys and changes guarded."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from runner_agent.credentials import mask

MUTATIONS = [
    ("POST", "/v1/runners", {"regionId": "r", "name": "never"}),
    ("DELETE", "/v1/runners/00000000-0000-4000-8000-000000000000", None),
    ("PATCH", "/v1/runners/x/scheduling", {"unschedulable": True}),
    ("PATCH", "/v1/runners/x/draining", {"draining": True}),
    ("POST", "/v1/runners/healthcheck", None),
]


def test_list_forwards_with_the_organization_key(rest, registered, emulator):
    everywhere = rest.http.get("/v1/runners")
    in_region = rest.http.get("/v1/runners", params={"regionId": emulator.region_id})

    assert everywhere.status_code == 200
    assert [runner["id"] for runner in everywhere.json()] == [registered.id]
    assert in_region.json() == everywhere.json()


def test_get_by_id_answers_the_runner(rest, registered):
    answer = rest.http.get(f"/v1/runners/{registered.id}")

    assert answer.status_code == 200
    assert answer.json()["name"] == "rest-host"


@pytest.mark.parametrize("path", ["/v1/runners/me", "/v1/runners/{id}/full"])
def test_full_documents_answer_the_runner_key_masked(rest, registered, path):
    answer = rest.http.get(path.format(id=registered.id))

    assert answer.status_code == 200
    assert answer.json()["apiKey"] == mask(registered.key)
    assert registered.key not in answer.text


def test_proxy_look_ups_forward_with_the_proxy_key(rest, registered, emulator):
    sandbox = emulator.store.add_sandbox(registered.id, None, "started")
    emulator.store.add_snapshot(registered.id, "ubuntu:24.04")

    by_sandbox = rest.http.get(f"/v1/runners/by-sandbox/{sandbox['id']}")
    by_ref = rest.http.get(
        "/v1/runners/by-snapshot-ref", params={"ref": "ubuntu:24.04"}
    )

    assert by_sandbox.json()["id"] == registered.id
    assert by_sandbox.json()["apiKey"] == mask(registered.key)
    assert [holder["runnerId"] for holder in by_ref.json()] == [registered.id]


def test_snapshot_look_up_without_ref_is_a_400(rest):
    answer = rest.http.get("/v1/runners/by-snapshot-ref")

    assert answer.status_code == 400
    assert answer.json()["message"] == "ref is required"


def test_create_answers_201_and_keeps_the_one_time_key_in_a_private_file(
    rest, emulator
):
    body = {"regionId": emulator.region_id, "name": "rest-new", "tags": ["a"]}

    answer = rest.http.post("/v1/runners", json=body, headers=rest.auth())

    created = answer.json()
    key_file = Path(created["keyFile"])
    kept = json.loads(key_file.read_text())
    assert answer.status_code == 201
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert kept["runnerId"] == created["id"]
    assert created["apiKey"] == mask(kept["runnerToken"])
    assert kept["runnerToken"] not in answer.text


def test_create_with_a_taken_name_answers_the_api_conflict(rest, emulator):
    body = {"regionId": emulator.region_id, "name": "rest-host"}

    answer = rest.http.post("/v1/runners", json=body, headers=rest.auth())

    document = answer.json()
    assert answer.status_code == 409
    assert document["statusCode"] == 409
    assert document["error"] == "Conflict"
    assert "already exists" in document["message"]
    assert document["path"] == "/v1/runners"


def test_create_refuses_fields_the_api_does_not_know(rest, emulator):
    body = {"regionId": emulator.region_id, "name": "x1", "apiKey": "mine"}

    answer = rest.http.post("/v1/runners", json=body, headers=rest.auth())

    assert answer.status_code == 400
    assert "apiKey" in answer.json()["message"]


def test_scheduling_draining_and_delete_forward(rest, registered):
    runner = f"/v1/runners/{registered.id}"

    cordoned = rest.http.patch(
        f"{runner}/scheduling", json={"unschedulable": True}, headers=rest.auth()
    )
    drained = rest.http.patch(
        f"{runner}/draining", json={"draining": False}, headers=rest.auth()
    )
    deleted = rest.http.delete(runner, headers=rest.auth())
    gone = rest.http.get(runner)

    assert cordoned.json()["unschedulable"] is True
    assert drained.status_code == 200
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert gone.status_code == 404


def test_flags_on_this_hosts_runner_keep_the_intent_record(rest, registered):
    runner = f"/v1/runners/{registered.id}"
    intent = rest.config.state_dir / "intent.json"

    rest.http.patch(f"{runner}/draining", json={"draining": True}, headers=rest.auth())
    draining = json.loads(intent.read_text())
    rest.http.patch(f"{runner}/draining", json={"draining": False}, headers=rest.auth())
    undrained = json.loads(intent.read_text())

    assert draining["draining"] is True
    assert undrained["draining"] is False


def test_flags_on_another_runner_leave_the_intent_record_alone(make_rest, registered):
    rest = make_rest()
    runner = f"/v1/runners/{registered.id}"

    answer = rest.http.patch(
        f"{runner}/draining", json={"draining": True}, headers=rest.auth()
    )

    assert answer.status_code == 200
    assert not (rest.config.state_dir / "intent.json").exists()


def test_a_flag_that_is_not_a_boolean_is_a_400(rest, registered):
    answer = rest.http.patch(
        f"/v1/runners/{registered.id}/scheduling",
        json={"unschedulable": "yes"},
        headers=rest.auth(),
    )

    assert answer.status_code == 400
    assert "boolean" in answer.json()["message"]


def test_healthcheck_without_a_body_measures_this_host(rest, registered):
    sent = rest.http.post("/v1/runners/healthcheck", headers=rest.auth())
    me = rest.http.get("/v1/runners/me")

    assert (sent.status_code, sent.content) == (200, b"")
    assert me.json()["state"] == "ready"
    assert me.json()["cpu"] >= 1


def test_a_malformed_id_answers_the_api_400_error_body(rest):
    answer = rest.http.get("/v1/runners/not-a-uuid")

    document = answer.json()
    assert answer.status_code == 400
    assert set(document) == {"path", "timestamp", "statusCode", "error", "message"}
    assert document["statusCode"] == 400
    assert "uuid" in document["message"].lower()


def test_a_refused_key_answers_401(make_rest):
    rest = make_rest(DAYTONA_API_KEY="dtn_not_an_organization_key_00")

    answer = rest.http.get("/v1/runners")

    assert answer.status_code == 401
    assert "dtn_not_an_organization_key_00" not in answer.text


def test_an_operation_without_its_key_answers_503_naming_it(make_rest):
    rest = make_rest()

    answer = rest.http.get("/v1/runners/me")

    assert answer.status_code == 503
    assert "DAYTONA_RUNNER_TOKEN" in answer.json()["message"]


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
def test_mutations_are_off_without_a_configured_token(make_rest, method, path, body):
    rest = make_rest(token=None)

    answer = rest.http.request(method, path, json=body)

    assert answer.status_code == 403
    assert "local_api.token_file" in answer.json()["message"]


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
def test_mutations_with_a_missing_or_wrong_token_are_401(rest, method, path, body):
    missing = rest.http.request(method, path, json=body)
    wrong = rest.http.request(method, path, json=body, headers=rest.auth("nope"))

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_reads_need_no_token_on_loopback(make_rest):
    rest = make_rest(token=None)

    assert rest.http.get("/v1/runners").status_code == 200


def test_beyond_loopback_reads_need_the_token_too(make_rest):
    rest = make_rest(listen="0.0.0.0:9713")

    without = rest.http.get("/v1/runners")
    with_token = rest.http.get("/v1/runners", headers=rest.auth())

    assert without.status_code == 401
    assert with_token.status_code == 200


def test_unknown_paths_and_methods_are_refused(rest):
    unknown = rest.http.get("/v1/sandboxes")
    wrong_method = rest.http.put("/v1/runners", headers=rest.auth())

    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, POST"


def test_a_body_that_is_not_json_is_a_400(rest):
    answer = rest.http.post("/v1/runners", content=b"{not json", headers=rest.auth())

    assert answer.status_code == 400
    assert answer.json()["message"] == "The body is not valid JSON"


def test_a_foreign_host_name_is_refused_on_loopback(rest):
    rebound = rest.http.get("/v1/runners", headers={"Host": "attacker.example"})
    local = rest.http.get("/v1/runners", headers={"Host": "localhost:9713"})

    assert rebound.status_code == 421
    assert local.status_code == 200


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://attacker.example", 403), ("http://127.0.0.1:3000", 200)],
)
def test_a_web_page_of_another_origin_is_refused(rest, origin, status):
    answer = rest.http.get("/v1/runners", headers={"Origin": origin})

    assert answer.status_code == status
