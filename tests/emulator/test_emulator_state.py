"""The runner state machine: healthchecks, silence, draining, deletion."""

from __future__ import annotations

import time

import httpx


def state_of(org, runner):
    return org.get(f"/runners/{runner.id}").json()["state"]


def drain(org, runner, value=True):
    response = org.patch(f"/runners/{runner.id}/draining", json={"draining": value})
    assert response.status_code == 200


def test_created_runner_is_initializing_schedulable_and_not_draining(
    emu, org, new_runner
):
    runner = new_runner(tags=["gpu"])

    shown = org.get(f"/runners/{runner.id}").json()
    assert shown["state"] == "initializing"
    assert shown["unschedulable"] is False
    assert shown["lastChecked"] is None
    assert shown["tags"] == ["gpu"]
    assert emu.store.record(runner.id).draining is False


def test_healthcheck_makes_the_runner_ready_and_copies_what_it_reports(
    org, new_runner, report
):
    runner = new_runner()

    runner.client.post("/runners/healthcheck", json=report())

    shown = org.get(f"/runners/{runner.id}").json()
    assert shown["state"] == "ready"
    assert shown["lastChecked"] is not None
    assert (shown["cpu"], shown["memory"], shown["disk"]) == (16, 64, 500)
    assert (shown["gpu"], shown["gpuType"]) == (1, "nvidia-a10")
    assert shown["currentCpuUsagePercentage"] == 12.5
    assert shown["currentStartedSandboxes"] == 2
    assert shown["domain"] == "runner.example.test"
    assert shown["apiUrl"] == "http://runner.example.test:3003"
    assert shown["proxyUrl"] == "http://runner.example.test:8080"
    assert shown["appVersion"] == "v0.1.0"


def test_unhealthy_service_makes_the_runner_unresponsive(org, new_runner, report):
    runner = new_runner()
    broken = [{"serviceName": "docker", "healthy": False, "errorReason": "down"}]

    runner.client.post("/runners/healthcheck", json=report(serviceHealth=broken))

    assert state_of(org, runner) == "unresponsive"


def test_silent_runner_becomes_unresponsive_at_the_next_check(
    clock, org, new_runner, report, tick
):
    runner = new_runner()
    runner.client.post("/runners/healthcheck", json=report())
    clock.advance(59)
    tick()
    assert state_of(org, runner) == "ready"

    clock.advance(1)
    tick()

    assert state_of(org, runner) == "unresponsive"


def test_runner_that_never_checked_in_stays_initializing(clock, org, new_runner, tick):
    runner = new_runner()
    clock.advance(3600)

    tick()

    assert state_of(org, runner) == "initializing"


def test_healthcheck_brings_an_unresponsive_runner_back_to_ready(
    clock, org, new_runner, report, tick
):
    runner = new_runner()
    runner.client.post("/runners/healthcheck", json=report())
    clock.advance(120)
    tick()

    runner.client.post("/runners/healthcheck", json=report())

    assert state_of(org, runner) == "ready"


def test_draining_runner_without_sandbox_is_decommissioned_on_the_third_check(
    org, new_runner, tick
):
    runner = new_runner()
    drain(org, runner)
    tick(2)
    assert state_of(org, runner) != "decommissioned"

    tick()

    assert state_of(org, runner) == "decommissioned"


def test_draining_runner_with_a_live_sandbox_is_never_decommissioned(
    org, control, new_runner, tick
):
    runner = new_runner()
    control.post("/sandboxes", json={"runnerId": runner.id, "state": "stopped"})
    drain(org, runner)

    tick(10)

    assert state_of(org, runner) == "initializing"


def test_live_sandbox_resets_the_count_of_idle_checks(org, control, new_runner, tick):
    runner = new_runner()
    drain(org, runner)
    tick(2)
    sandbox = control.post("/sandboxes", json={"runnerId": runner.id}).json()
    tick()
    control.patch(f"/sandboxes/{sandbox['id']}", json={"state": "destroyed"})
    tick(2)
    assert state_of(org, runner) != "decommissioned"

    tick()

    assert state_of(org, runner) == "decommissioned"


def test_archived_sandbox_does_not_hold_a_draining_runner(
    org, control, new_runner, tick
):
    runner = new_runner()
    control.post("/sandboxes", json={"runnerId": runner.id, "state": "archived"})
    drain(org, runner)

    tick(3)

    assert state_of(org, runner) == "decommissioned"


def test_undraining_resets_the_count_of_idle_checks(org, new_runner, tick):
    runner = new_runner()
    drain(org, runner)
    tick(2)
    drain(org, runner, False)
    tick(5)
    drain(org, runner)
    tick(2)
    assert state_of(org, runner) != "decommissioned"

    tick()

    assert state_of(org, runner) == "decommissioned"


def test_decommissioned_runner_ignores_later_healthchecks(
    org, new_runner, report, tick
):
    runner = new_runner()
    drain(org, runner)
    tick(3)
    before = org.get(f"/runners/{runner.id}").json()

    response = runner.client.post("/runners/healthcheck", json=report())

    assert response.status_code == 200
    assert org.get(f"/runners/{runner.id}").json() == before


def test_decommissioned_runner_still_answers_flag_patches(org, new_runner, tick):
    runner = new_runner()
    drain(org, runner)
    tick(3)

    cordon = org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})
    undrain = org.patch(f"/runners/{runner.id}/draining", json={"draining": False})

    assert cordon.status_code == undrain.status_code == 200
    assert undrain.json()["state"] == "decommissioned"


def test_draining_shows_in_the_control_state_but_never_in_the_api(
    org, control, new_runner
):
    runner = new_runner()

    answer = org.patch(f"/runners/{runner.id}/draining", json={"draining": True})

    assert "draining" not in answer.json()
    dumped = control.get("/state").json()["runners"][0]
    assert dumped["draining"] is True


def test_scheduling_patch_sets_and_clears_unschedulable(org, new_runner):
    runner = new_runner()

    cordoned = org.patch(
        f"/runners/{runner.id}/scheduling", json={"unschedulable": True}
    )
    uncordoned = org.patch(
        f"/runners/{runner.id}/scheduling", json={"unschedulable": False}
    )

    assert cordoned.json()["unschedulable"] is True
    assert uncordoned.json()["unschedulable"] is False


def test_delete_of_a_schedulable_runner_is_400(org, new_runner):
    runner = new_runner()

    response = org.delete(f"/runners/{runner.id}")

    assert response.status_code == 400
    assert "unschedulable" in response.json()["message"]


def test_delete_of_a_runner_holding_a_live_sandbox_is_400(org, control, new_runner):
    runner = new_runner()
    control.post("/sandboxes", json={"runnerId": runner.id})
    org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})

    response = org.delete(f"/runners/{runner.id}")

    assert response.status_code == 400
    assert "sandbox" in response.json()["message"]


def test_delete_of_a_cordoned_idle_runner_removes_it(org, control, new_runner):
    runner = new_runner()
    control.post("/sandboxes", json={"runnerId": runner.id, "state": "destroyed"})
    org.patch(f"/runners/{runner.id}/scheduling", json={"unschedulable": True})

    response = org.delete(f"/runners/{runner.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert org.get(f"/runners/{runner.id}").status_code == 404
    assert org.get("/runners").json() == []


def test_the_periodic_check_runs_by_itself(emulator):
    key = {"Authorization": f"Bearer {emulator.organization_key}"}
    with httpx.Client(base_url=emulator.url, headers=key) as org:
        body = {"regionId": emulator.region_id, "name": "runner-a"}
        runner_id = org.post("/runners", json=body).json()["id"]
        org.patch(f"/runners/{runner_id}/draining", json={"draining": True})
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if org.get(f"/runners/{runner_id}").json()["state"] == "decommissioned":
                break
            time.sleep(0.05)

        assert org.get(f"/runners/{runner_id}").json()["state"] == "decommissioned"


def test_silence_makes_a_runner_unresponsive_in_real_time(emulator):
    headers = {"Authorization": f"Bearer {emulator.organization_key}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as org:
        body = {"regionId": emulator.region_id, "name": "runner-a"}
        created = org.post("/runners", json=body).json()
        runner_key = {"Authorization": f"Bearer {created['apiKey']}"}
        org.post("/runners/healthcheck", json={"appVersion": "v1"}, headers=runner_key)
        assert org.get(f"/runners/{created['id']}").json()["state"] == "ready"
        time.sleep(0.7)

        assert org.get(f"/runners/{created['id']}").json()["state"] == "unresponsive"
