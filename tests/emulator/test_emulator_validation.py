"""Validation of ids, query parameters and bodies: 400 with the reason."""

from __future__ import annotations

import uuid

import pytest


def create(emu, org, **changes):
    body = {"regionId": emu.region_id, "name": "runner-a", **changes}
    return org.post("/runners", json=body)


@pytest.mark.parametrize(
    "name", ["a", "x" * 256, "has space", "slash/name", "ünïcode", "", "edge\n"]
)
def test_create_refuses_a_bad_name(emu, org, name):
    response = create(emu, org, name=name)

    assert response.status_code == 400
    assert "name" in response.json()["message"]


@pytest.mark.parametrize("name", ["ab", "x" * 255, "edge_1.eu-west"])
def test_create_accepts_a_good_name(emu, org, name):
    assert create(emu, org, name=name).status_code == 201


def test_create_without_a_name_is_400(emu, org):
    response = org.post("/runners", json={"regionId": emu.region_id})

    assert response.status_code == 400


def test_create_in_an_unknown_region_is_404(emu, org):
    response = create(emu, org, regionId=str(uuid.uuid4()))

    assert response.status_code == 404
    assert "Region" in response.json()["message"]


def test_create_without_a_region_is_400(org):
    response = org.post("/runners", json={"name": "runner-a"})

    assert response.status_code == 400
    assert "regionId" in response.json()["message"]


@pytest.mark.parametrize("tags", ["gpu", [1, 2], {"a": "b"}])
def test_create_refuses_tags_that_are_not_a_list_of_strings(emu, org, tags):
    response = create(emu, org, tags=tags)

    assert response.status_code == 400
    assert "tags" in response.json()["message"]


def test_create_refuses_an_unknown_sandbox_class(emu, org):
    response = create(emu, org, sandboxClass="large")

    assert response.status_code == 400
    assert "sandboxClass" in response.json()["message"]


@pytest.mark.parametrize("sandbox_class", ["container", "linux-vm", "windows"])
def test_create_keeps_the_sandbox_class(emu, org, sandbox_class):
    runner_id = create(emu, org, sandboxClass=sandbox_class).json()["id"]

    assert org.get(f"/runners/{runner_id}").json()["sandboxClass"] == sandbox_class


def test_create_defaults_to_the_container_class_and_no_tags(emu, org):
    runner_id = create(emu, org).json()["id"]

    runner = org.get(f"/runners/{runner_id}").json()
    assert runner["sandboxClass"] == "container"
    assert runner["tags"] == []


def test_create_refuses_unknown_fields(emu, org):
    response = create(emu, org, cpu=4)

    assert response.status_code == 400
    assert "cpu" in response.json()["message"]


def test_create_refuses_a_body_that_is_not_json(org):
    response = org.post(
        "/runners", content=b"name=x", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_create_refuses_a_body_of_another_content_type(org):
    response = org.post(
        "/runners", content=b"{}", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 400
    assert "Content-Type" in response.json()["message"]


def test_create_refuses_an_empty_body(org):
    assert org.post("/runners").status_code == 400


def test_create_refuses_a_json_array(org):
    response = org.post("/runners", json=[{"name": "x"}])

    assert response.status_code == 400
    assert "object" in response.json()["message"]


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("scheduling", {"unschedulable": "yes"}),
        ("scheduling", {"unschedulable": 1}),
        ("scheduling", {}),
        ("scheduling", {"unschedulable": True, "extra": 1}),
        ("draining", {"draining": None}),
        ("draining", {"draining": "true"}),
    ],
)
def test_flag_patches_refuse_anything_but_a_boolean(org, new_runner, operation, body):
    runner = new_runner()

    response = org.patch(f"/runners/{runner.id}/{operation}", json=body)

    assert response.status_code == 400


def test_healthcheck_needs_an_app_version(new_runner, report):
    runner = new_runner()
    body = report()
    del body["appVersion"]

    response = runner.client.post("/runners/healthcheck", json=body)

    assert response.status_code == 400
    assert "appVersion" in response.json()["message"]


def test_healthcheck_refuses_a_metric_that_is_not_a_number(new_runner, report):
    runner = new_runner()
    body = report()
    body["metrics"]["currentCpuUsagePercentage"] = "12%"

    response = runner.client.post("/runners/healthcheck", json=body)

    assert response.status_code == 400
    assert "currentCpuUsagePercentage" in response.json()["message"]


def test_healthcheck_refuses_metrics_missing_a_required_field(new_runner, report):
    runner = new_runner()
    body = report()
    del body["metrics"]["diskGiB"]

    assert runner.client.post("/runners/healthcheck", json=body).status_code == 400


def test_healthcheck_refuses_a_service_whose_health_is_not_a_boolean(
    new_runner, report
):
    runner = new_runner()
    body = report(serviceHealth=[{"serviceName": "docker", "healthy": "no"}])

    response = runner.client.post("/runners/healthcheck", json=body)

    assert response.status_code == 400
    assert "healthy" in response.json()["message"]


def test_healthcheck_refuses_unknown_fields(new_runner, report):
    runner = new_runner()

    response = runner.client.post("/runners/healthcheck", json=report(uptime=3))

    assert response.status_code == 400
    assert "uptime" in response.json()["message"]


def test_healthcheck_accepts_only_an_app_version(new_runner):
    runner = new_runner()

    response = runner.client.post("/runners/healthcheck", json={"appVersion": "v1"})

    assert response.status_code == 200
    assert response.content == b""


def test_by_snapshot_ref_without_ref_is_400(proxy):
    response = proxy.get("/runners/by-snapshot-ref")

    assert response.status_code == 400
    assert "ref" in response.json()["message"]


def test_by_sandbox_with_a_malformed_id_is_400(proxy):
    assert proxy.get("/runners/by-sandbox/not-a-uuid").status_code == 400


def test_list_filters_by_region(emu, org, new_runner):
    runner = new_runner()

    own = org.get("/runners", params={"regionId": emu.region_id}).json()
    other = org.get("/runners", params={"regionId": str(uuid.uuid4())}).json()

    assert [r["id"] for r in own] == [runner.id]
    assert other == []


def test_list_without_a_region_shows_every_runner(org, new_runner):
    first, second = new_runner(), new_runner()

    listed = [r["id"] for r in org.get("/runners").json()]

    assert listed == [first.id, second.id]
