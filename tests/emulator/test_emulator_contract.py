"""Every answer parses with the generated client's models, leaving nothing over.

``daytona-api-client`` is the contract: its models accept unknown fields
into ``additional_properties`` and unknown enum values as
``UNKNOWN_DEFAULT_OPEN_API``; either would mean the emulator and the real
API disagree, so both are failures here.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import pytest
from daytona_api_client.models.create_runner import CreateRunner
from daytona_api_client.models.create_runner_response import CreateRunnerResponse
from daytona_api_client.models.runner import Runner
from daytona_api_client.models.runner_full import RunnerFull
from daytona_api_client.models.runner_healthcheck import RunnerHealthcheck
from daytona_api_client.models.runner_snapshot_dto import RunnerSnapshotDto
from pydantic import BaseModel

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def leftovers(value: Any, where: str = "$") -> list[str]:
    """Unknown fields and unknown enum values anywhere inside ``value``."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        extra = getattr(value, "additional_properties", {})
        found += [f"{where}.{name} (unknown field)" for name in extra]
        for name in type(value).model_fields:
            found += leftovers(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leftovers(item, f"{where}[{index}]")
    elif isinstance(value, enum.Enum) and value.name == "UNKNOWN_DEFAULT_OPEN_API":
        found.append(f"{where} (unknown enum value)")
    return found


def strict(model: type[BaseModel], document: Any) -> Any:
    """Parse ``document`` with ``model``; fail on anything left over."""
    parsed = model.from_dict(document)  # type: ignore[attr-defined]
    assert parsed is not None
    assert leftovers(parsed) == []
    return parsed


def strict_runner(model: type[BaseModel], document: Any) -> Any:
    parsed = strict(model, document)
    for stamp in (parsed.created_at, parsed.updated_at, parsed.last_checked):
        assert stamp is None or ISO_UTC.match(stamp)
    return parsed


@pytest.fixture
def busy_runner(control, new_runner, report):
    """A runner that reported health and holds a sandbox and a snapshot."""
    runner = new_runner(tags=["gpu", "eu"], sandboxClass="linux-vm")
    runner.client.post("/runners/healthcheck", json=report())
    runner.sandbox = control.post("/sandboxes", json={"runnerId": runner.id}).json()
    control.post("/snapshots", json={"runnerId": runner.id, "ref": "img:1"})
    return runner


def test_the_sample_healthcheck_is_itself_a_strict_runner_healthcheck(report):
    strict(RunnerHealthcheck, report())


def test_create_body_and_answer_match_the_models(emu, org):
    body = {"regionId": emu.region_id, "name": "edge-1", "tags": ["a"]}
    strict(CreateRunner, body)

    response = org.post("/runners", json=body)

    assert response.status_code == 201
    strict(CreateRunnerResponse, response.json())


def test_fresh_runner_matches_runner(org, new_runner):
    runner = new_runner()

    strict_runner(Runner, org.get(f"/runners/{runner.id}").json())


def test_list_matches_a_list_of_runner(org, new_runner, busy_runner):
    new_runner()

    listed = org.get("/runners").json()

    assert len(listed) == 2
    for document in listed:
        strict_runner(Runner, document)


def test_get_matches_runner(org, busy_runner):
    parsed = strict_runner(Runner, org.get(f"/runners/{busy_runner.id}").json())

    assert parsed.state.value == "ready"
    assert parsed.sandbox_class.value == "linux-vm"


def test_me_matches_runner_full(busy_runner):
    parsed = strict_runner(RunnerFull, busy_runner.client.get("/runners/me").json())

    assert parsed.api_key == busy_runner.key
    assert parsed.region_type.value == "custom"


def test_full_matches_runner_full(proxy, busy_runner):
    strict_runner(RunnerFull, proxy.get(f"/runners/{busy_runner.id}/full").json())


def test_by_sandbox_matches_runner_full(proxy, busy_runner):
    path = f"/runners/by-sandbox/{busy_runner.sandbox['id']}"

    strict_runner(RunnerFull, proxy.get(path).json())


def test_by_snapshot_ref_matches_a_list_of_runner_snapshot_dto(proxy, busy_runner):
    listed = proxy.get("/runners/by-snapshot-ref", params={"ref": "img:1"}).json()

    assert len(listed) == 1
    strict(RunnerSnapshotDto, listed[0])


def test_my_snapshots_is_a_list_of_refs(busy_runner):
    refs = busy_runner.client.get("/runners/me/snapshots").json()

    assert refs == ["img:1"]


@pytest.mark.parametrize(
    ("operation", "body"),
    [("scheduling", {"unschedulable": True}), ("draining", {"draining": True})],
)
def test_flag_patches_answer_a_runner(org, busy_runner, operation, body):
    response = org.patch(f"/runners/{busy_runner.id}/{operation}", json=body)

    assert response.status_code == 200
    strict_runner(Runner, response.json())


def test_healthcheck_answers_200_with_an_empty_body(busy_runner, report):
    response = busy_runner.client.post("/runners/healthcheck", json=report())

    assert response.status_code == 200
    assert response.content == b""


def test_delete_answers_204_with_an_empty_body(org, new_runner):
    runner = new_runner()
    org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})

    response = org.delete(f"/runners/{runner.id}")

    assert response.status_code == 204
    assert response.content == b""


def test_every_runner_state_the_emulator_reaches_is_a_known_enum_value(
    org, clock, new_runner, report, tick
):
    runner = new_runner()
    seen = [org.get(f"/runners/{runner.id}").json()]
    runner.client.post("/runners/healthcheck", json=report())
    seen.append(org.get(f"/runners/{runner.id}").json())
    clock.advance(61)
    tick()
    seen.append(org.get(f"/runners/{runner.id}").json())
    org.patch(f"/runners/{runner.id}/draining", json={"draining": True})
    tick(3)
    seen.append(org.get(f"/runners/{runner.id}").json())

    states = [strict_runner(Runner, document).state.value for document in seen]

    assert states == ["initializing", "ready", "unresponsive", "decommissioned"]


def test_the_contract_check_sees_unknown_fields_and_enum_values(org, new_runner):
    runner = new_runner()
    document = org.get(f"/runners/{runner.id}").json()
    document.update(colour="red", state="sleeping")

    found = leftovers(Runner.from_dict(document))

    assert sorted(found) == ["$.colour (unknown field)", "$.state (unknown enum value)"]
