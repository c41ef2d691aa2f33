"""Cordon, drain, waiting and deregister against the emulator, in-process."""

from __future__ import annotations

import httpx
import pytest

from runner_agent import errors, lifecycle
from runner_agent.client import RunnersClient
from runner_agent.credentials import Credentials, Secret
from runner_agent.models import Runner
from runner_agent.registration import RegistrationRequest, register
from runner_agent.state import INTENT_FILE, Identity, StateDir


def client_for(emulator) -> RunnersClient:
    keys = Credentials(organization=Secret(emulator.organization_key))
    return RunnersClient(emulator.url, keys, timeout=5.0)


def control(emulator, verb: str, path: str, body: dict | None = None):
    response = httpx.request(verb, f"{emulator.control_url}/{path}", json=body)
    response.raise_for_status()
    return response.json() if response.content else None


def runners(emulator) -> list[dict]:
    return control(emulator, "GET", "state")["runners"]


@pytest.fixture
def state(tmp_path) -> StateDir:
    return StateDir(tmp_path / "state")


@pytest.fixture
def client(emulator):
    with client_for(emulator) as client:
        yield client


@pytest.fixture
def identity(emulator, client, state) -> Identity:
    request = RegistrationRequest(region_id=emulator.region_id, name="host-1")
    return register(client, state, request).identity


def deregister(client, state, identity, **options) -> lifecycle.Deregistration:
    options.setdefault("timeout", 20.0)
    return lifecycle.deregister(client, state, identity, poll=0.1, **options)


def a_runner(state: str) -> Runner:
    return Runner(id="r-1", name="host-1", region="eu", state=state, unschedulable=True)


def test_wait_for_state_polls_sooner_first_then_at_the_full_pause():
    answers = iter(["ready", "ready", "ready", "ready", "decommissioned"])
    pauses: list[float] = []

    reached = lifecycle.wait_for_state(
        lambda: a_runner(next(answers)),
        "decommissioned",
        timeout=60,
        poll=2.0,
        first_poll=0.5,
        sleep=pauses.append,
    )

    assert reached.state == "decommissioned"
    assert pauses == [0.5, 1.0, 2.0, 2.0]


def test_wait_for_state_gives_up_at_the_timeout_with_the_last_view():
    with pytest.raises(lifecycle.WaitTimeoutError) as waited:
        lifecycle.wait_for_state(
            lambda: a_runner("ready"), "decommissioned", timeout=0, sleep=print
        )

    assert waited.value.runner.state == "ready"
    assert waited.value.exit_code == errors.EXIT_FAILED
    assert "still ready, not decommissioned" in str(waited.value)


def test_wait_for_state_ends_the_timeout_message_with_the_hint():
    with pytest.raises(lifecycle.WaitTimeoutError) as waited:
        lifecycle.wait_for_state(
            lambda: a_runner("ready"),
            "decommissioned",
            timeout=0,
            hint="run it again",
            sleep=print,
        )

    assert str(waited.value).endswith("after 0s; run it again")


def test_wait_decommissioned_follows_the_runner_until_it_is(
    emulator, client, state, identity
):
    lifecycle.cordon(client, state, identity.runner_id)
    lifecycle.drain(client, state, identity.runner_id)
    seen: list[str] = []

    reached = lifecycle.wait_decommissioned(
        client,
        identity.runner_id,
        timeout=10,
        poll=0.05,
        on_progress=lambda runner, _: seen.append(runner.state),
    )

    assert reached.state == "decommissioned"
    assert seen[-1] == "decommissioned"


def test_cordon_by_the_agent_is_remembered_and_uncordon_forgets_it(
    client, state, identity
):
    lifecycle.cordon(client, state, identity.runner_id, by_agent=True)
    cordoned = state.load_intent()
    lifecycle.uncordon(client, state, identity.runner_id)

    assert cordoned.cordoned_by_agent is True
    assert state.load_intent().cordoned_by_agent is False


def test_the_agent_never_takes_over_an_operators_cordon(client, state, identity):
    lifecycle.cordon(client, state, identity.runner_id)
    lifecycle.cordon(client, state, identity.runner_id, by_agent=True)

    assert state.load_intent().cordoned_by_agent is False
    assert client.get_runner(identity.runner_id).unschedulable is True


def test_the_agent_keeps_marking_a_cordon_it_placed_itself(client, state, identity):
    lifecycle.cordon(client, state, identity.runner_id, by_agent=True)
    lifecycle.cordon(client, state, identity.runner_id, by_agent=True)

    assert state.load_intent().cordoned_by_agent is True


def test_drain_and_undrain_keep_the_intent_the_api_cannot_report(
    client, state, identity
):
    lifecycle.drain(client, state, identity.runner_id)
    draining = state.load_intent()
    lifecycle.undrain(client, state, identity.runner_id)

    assert draining.draining is True
    assert draining.draining_since
    assert state.load_intent().draining is False


def decommissioned(client, state, identity) -> Runner:
    lifecycle.cordon(client, state, identity.runner_id)
    lifecycle.drain(client, state, identity.runner_id)
    return lifecycle.wait_for_state(
        lambda: client.get_runner(identity.runner_id),
        "decommissioned",
        timeout=10,
        poll=0.05,
    )


def test_undrain_of_a_decommissioned_runner_is_refused_and_keeps_the_record(
    emulator, client, state, identity
):
    decommissioned(client, state, identity)

    with pytest.raises(errors.RunnerRetiredError, match="already decommissioned"):
        lifecycle.undrain(client, state, identity.runner_id)

    assert state.load_intent().draining is True
    held = {r["id"]: r for r in runners(emulator)}[identity.runner_id]
    assert held["draining"] is True


def test_deregister_without_waiting_deletes_a_runner_already_decommissioned(
    emulator, client, state, identity
):
    decommissioned(client, state, identity)

    result = deregister(client, state, identity, wait=False)

    assert result.outcome == "deleted"
    assert runners(emulator) == []
    assert state.load_identity() is None


def test_deregister_deletes_the_runner_and_forgets_identity_and_intent(
    emulator, client, state, identity
):
    steps: list[str] = []

    result = deregister(client, state, identity, on_step=steps.append)

    assert result.outcome == "deleted"
    assert steps == ["cordoned", "draining", "deleted"]
    assert runners(emulator) == []
    assert state.load_identity() is None
    assert not state.file(INTENT_FILE).exists()


def test_deregister_without_waiting_stops_draining_and_a_rerun_finishes(
    emulator, client, state, identity
):
    first = deregister(client, state, identity, wait=False)
    left = runners(emulator)
    second = deregister(client, state, identity)

    assert first.outcome == "draining"
    assert left[0]["unschedulable"] is True
    assert left[0]["draining"] is True
    assert state.load_identity() is None
    assert second.outcome == "deleted"
    assert runners(emulator) == []


def test_deregister_of_a_runner_deleted_elsewhere_only_forgets_it(
    emulator, client, state, identity
):
    client.set_scheduling(identity.runner_id, unschedulable=True)
    client.delete_runner(identity.runner_id)

    result = deregister(client, state, identity)

    assert result.outcome == "already_deleted"
    assert state.load_identity() is None


@pytest.mark.parametrize(
    "spec",
    [
        {"method": "GET", "path": "/runners/*", "status": 503},
        {"method": "PATCH", "path": "/runners/{id}/scheduling", "status": 503},
        {"method": "PATCH", "path": "/runners/{id}/draining", "status": 500},
        {"method": "PATCH", "path": "/runners/{id}/draining", "dropAfter": True},
        {"method": "DELETE", "path": "/runners/*", "status": 502},
        {"method": "DELETE", "path": "/runners/*", "dropAfter": True},
    ],
    ids=[
        "read",
        "cordon",
        "drain-refused",
        "drain-answer-lost",
        "delete-refused",
        "delete-answer-lost",
    ],
)
def test_deregister_interrupted_at_any_step_is_finished_by_a_rerun(
    emulator, client, state, identity, spec
):
    spec = {**spec, "path": spec["path"].format(id=identity.runner_id)}
    control(emulator, "POST", "faults", spec)

    with pytest.raises(errors.RunnerAgentError):
        deregister(client, state, identity)
    kept = state.load_identity()
    rerun = deregister(client, state, identity)

    assert kept == identity
    assert rerun.outcome in ("deleted", "already_deleted")
    assert runners(emulator) == []
    assert state.load_identity() is None
    assert not state.file(INTENT_FILE).exists()


def test_deregister_timeout_leaves_the_runner_cordoned_and_draining(
    emulator, client, state, identity
):
    placed = {"runnerId": identity.runner_id, "state": "started"}
    sandbox = control(emulator, "POST", "sandboxes", placed)

    with pytest.raises(lifecycle.WaitTimeoutError) as waited:
        deregister(client, state, identity, timeout=0.3)
    left = runners(emulator)[0]
    kept = state.load_identity()
    control(emulator, "DELETE", f"sandboxes/{sandbox['id']}")
    rerun = deregister(client, state, identity)

    assert "stays cordoned and draining" in str(waited.value)
    assert "deregister again" in str(waited.value)
    assert left["unschedulable"] is True
    assert left["draining"] is True
    assert kept == identity
    assert rerun.outcome == "deleted"
    assert runners(emulator) == []
