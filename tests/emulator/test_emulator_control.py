"""The control surface: state, sandboxes, snapshots, keys, log, tick, reset."""

from __future__ import annotations

import io
import json
import uuid

import httpx

from runner_agent.emulator import Emulator, EmulatorSettings
from runner_agent.emulator.control import ControlSurface
from runner_agent.emulator.faults import FaultBoard, RequestLog
from runner_agent.emulator.store import Store


def test_request_log_records_what_was_asked_and_who_asked(emu, control, org):
    body = {"regionId": emu.region_id, "name": "edge-1"}
    org.post(
        "/runners?trace=1",
        json=body,
        headers={
            "User-Agent": "runner-agent/test",
            "X-Daytona-Organization-ID": emu.organization_id,
        },
    )

    entry = control.get("/requests").json()[-1]

    assert entry["method"] == "POST"
    assert entry["path"] == "/api/runners"
    assert entry["query"] == "trace=1"
    assert entry["status"] == 201
    assert entry["body"] == body
    assert entry["role"] == "organization"
    assert entry["headers"] == {
        "User-Agent": "runner-agent/test",
        "X-Daytona-Organization-ID": emu.organization_id,
        "Content-Type": "application/json",
    }
    assert isinstance(entry["remotePort"], int)


def test_request_log_never_holds_a_key(emu, control, org, new_runner, anonymous):
    runner = new_runner()
    runner.client.get("/runners/me")
    anonymous.get("/runners", headers={"Authorization": "Bearer dtn_wrong"})

    log = control.get("/requests").json()

    text = json.dumps(log)
    assert emu.organization_key not in text
    assert runner.key not in text
    assert "dtn_wrong" not in text
    assert [entry["role"] for entry in log[-2:]] == ["runner", "unknown"]


def test_request_log_tells_kept_alive_connections_from_new_ones(emu, control, org):
    org.get("/runners")
    org.get("/runners")
    with httpx.Client() as other:
        other.get(f"{emu.url}/runners")

    first, second, third = control.get("/requests").json()[-3:]

    assert first["remotePort"] == second["remotePort"]
    assert third["remotePort"] != first["remotePort"]


def test_request_log_keeps_only_the_latest_requests():
    settings = EmulatorSettings(request_log_size=5)
    with Emulator.start(settings) as emulator, httpx.Client() as client:
        for number in range(8):
            client.get(f"{emulator.url}/runners", params={"n": number})

        log = client.get(f"{emulator.control_url}/requests").json()

    assert [entry["query"] for entry in log] == [f"n={n}" for n in range(3, 8)]


def test_state_shows_runners_keys_and_settings(emu, control, new_runner, report):
    runner = new_runner()
    runner.client.post("/runners/healthcheck", json=report())
    sandbox = control.post("/sandboxes", json={"runnerId": runner.id}).json()
    control.post("/snapshots", json={"runnerId": runner.id, "ref": "img:1"})

    state = control.get("/state").json()

    dumped = state["runners"][0]
    assert dumped["id"] == runner.id
    assert dumped["draining"] is False
    assert dumped["healthcheckCount"] == 1
    assert dumped["lastHealthcheck"] == report()
    assert dumped["sandboxes"] == [sandbox]
    assert [s["ref"] for s in dumped["snapshots"]] == ["img:1"]
    assert state["keys"]["organization"][0]["key"] == emu.organization_key
    assert state["keys"]["proxy"] == [{"key": emu.proxy_key}]
    assert state["keys"]["runner"] == [{"key": runner.key, "runnerId": runner.id}]
    assert state["settings"]["regionId"] == emu.region_id
    assert state["region"]["name"] == "local"


def test_sandbox_is_placed_started_with_a_uuid(control, new_runner):
    runner = new_runner()

    sandbox = control.post("/sandboxes", json={"runnerId": runner.id}).json()

    assert sandbox["state"] == "started"
    assert sandbox["runnerId"] == runner.id
    assert uuid.UUID(sandbox["id"])


def test_sandbox_may_be_given_its_id_changed_and_removed(control, new_runner, proxy):
    runner = new_runner()
    sandbox_id = str(uuid.uuid4())
    control.post("/sandboxes", json={"runnerId": runner.id, "id": sandbox_id})

    changed = control.patch(f"/sandboxes/{sandbox_id}", json={"state": "stopped"})
    removed = control.delete(f"/sandboxes/{sandbox_id}")

    assert changed.json()["state"] == "stopped"
    assert removed.status_code == 204
    assert proxy.get(f"/runners/by-sandbox/{sandbox_id}").status_code == 404


def test_sandbox_on_an_unknown_runner_is_404(control):
    response = control.post("/sandboxes", json={"runnerId": str(uuid.uuid4())})

    assert response.status_code == 404


def test_snapshots_show_in_the_lookups(control, proxy, new_runner, report):
    holder, other = new_runner(), new_runner()
    holder.client.post("/runners/healthcheck", json=report())
    created = control.post("/snapshots", json={"runnerId": holder.id, "ref": "img:1"})
    control.post("/snapshots", json={"runnerId": other.id, "ref": "img:2"})

    by_ref = proxy.get("/runners/by-snapshot-ref", params={"ref": "img:1"}).json()
    mine = holder.client.get("/runners/me/snapshots").json()

    assert by_ref == [
        {
            "runnerSnapshotId": created.json()["runnerSnapshotId"],
            "runnerId": holder.id,
            "runnerDomain": "runner.example.test",
        }
    ]
    assert mine == ["img:1"]


def test_unknown_snapshot_ref_gives_an_empty_list(proxy):
    response = proxy.get("/runners/by-snapshot-ref", params={"ref": "none"})

    assert response.status_code == 200
    assert response.json() == []


def test_extra_key_with_an_unknown_permission_is_refused(control):
    response = control.post("/keys", json={"permissions": ["admin"]})

    assert response.status_code == 400


def test_tick_answers_the_state_of_every_runner(org, control, new_runner):
    runner = new_runner()
    org.patch(f"/runners/{runner.id}/draining", json={"draining": True})

    answer = control.post("/tick").json()

    assert answer == {
        "runners": [
            {
                "id": runner.id,
                "state": "initializing",
                "draining": True,
                "idleChecks": 1,
            }
        ]
    }


def test_reset_forgets_everything_but_the_settings(emu, control, org, new_runner):
    runner = new_runner()
    extra = control.post("/keys", json={"permissions": ["read"]}).json()["key"]
    control.post("/faults", json={"path": "/nothing", "status": 500})

    response = control.post("/reset")

    assert response.status_code == 204
    assert org.get("/runners").json() == []
    assert runner.client.get("/runners/me").status_code == 401
    assert control.get("/faults").json() == []
    logged = [e["path"] for e in control.get("/requests").json()]
    assert logged == ["/api/runners", "/api/runners/me"]
    assert extra not in json.dumps(control.get("/state").json()["keys"])
    assert emu.store.principal_for(emu.organization_key) is not None


def test_unknown_control_path_is_404(control):
    response = control.get("/nothing")

    assert response.status_code == 404
    assert response.json()["path"] == "/_emulator/nothing"


def test_control_surface_refuses_clients_beyond_loopback():
    store = Store(EmulatorSettings())
    surface = ControlSurface(store, FaultBoard(), RequestLog(10))
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/_emulator/state",
        "REMOTE_ADDR": "192.0.2.7",
        "wsgi.input": io.BytesIO(b""),
    }
    statuses: list[str] = []

    body = b"".join(surface(environ, lambda status, _: statuses.append(status)))

    assert statuses == ["403 Forbidden"]
    assert store.settings.organization_key not in body.decode()
