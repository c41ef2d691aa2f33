"""The state directory: permissions, atomic writes, the identity."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import threading
import time

import pytest

from runner_agent.credentials import Secret
from runner_agent.errors import StateError
from runner_agent.state import Identity, Intent, StateDir


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def identity() -> Identity:
    return Identity(
        runner_id="5f0c3d8e-0000-4000-8000-000000000001",
        token=Secret("dtn_runner_key_0123456789"),
        name="host-1",
        region_id="eu",
    )


def test_the_directory_is_created_0700_and_the_identity_0600(tmp_path):
    state = StateDir(tmp_path / "state")

    state.save_identity(identity())

    assert mode(state.path) == 0o700
    assert mode(state.file("identity.json")) == 0o600


def test_a_loose_directory_of_ours_is_tightened(tmp_path):
    path = tmp_path / "state"
    path.mkdir(mode=0o755)

    StateDir(path).ensure()

    assert mode(path) == 0o700


def test_the_identity_round_trips_with_its_key(tmp_path):
    state = StateDir(tmp_path)
    state.save_identity(identity())

    loaded = state.load_identity()

    assert loaded == identity()
    assert loaded.token.reveal() == "dtn_runner_key_0123456789"


def test_the_reported_addresses_round_trip_with_the_identity(tmp_path):
    state = StateDir(tmp_path)
    kept = dataclasses.replace(
        identity(),
        domain="host-1.runners.example",
        runner_api_url="https://host-1.runners.example:3003",
        proxy_url="https://proxy.runners.example",
    )
    state.save_identity(kept)

    document = json.loads(state.file("identity.json").read_text())
    assert state.load_identity() == kept
    assert document["domain"] == "host-1.runners.example"
    assert document["runnerApiUrl"] == "https://host-1.runners.example:3003"
    assert document["proxyUrl"] == "https://proxy.runners.example"


def test_an_identity_without_reported_addresses_writes_none_and_loads_empty(
    tmp_path,
):
    state = StateDir(tmp_path)
    state.save_identity(identity())

    document = json.loads(state.file("identity.json").read_text())
    loaded = state.load_identity()
    assert {"domain", "runnerApiUrl", "proxyUrl"}.isdisjoint(document)
    assert (loaded.domain, loaded.runner_api_url, loaded.proxy_url) == ("", "", "")


def test_the_identity_json_hides_the_key_unless_asked(tmp_path):
    shown = identity().to_json()
    revealed = identity().to_json(show_secrets=True)

    assert "dtn_runner_key_0123456789" not in json.dumps(shown)
    assert revealed["runnerToken"] == "dtn_runner_key_0123456789"


def test_a_missing_identity_is_none(tmp_path):
    state = StateDir(tmp_path)

    assert state.load_identity() is None


def test_an_identity_others_can_read_is_refused(tmp_path):
    state = StateDir(tmp_path)
    state.save_identity(identity())
    state.file("identity.json").chmod(0o644)

    with pytest.raises(StateError, match="chmod 600"):
        state.load_identity()


def test_a_corrupt_identity_is_reported_not_replaced(tmp_path):
    state = StateDir(tmp_path)
    state.ensure()
    state.file("identity.json").write_text("{not json")
    state.file("identity.json").chmod(0o600)

    with pytest.raises(StateError, match="not valid JSON"):
        state.load_identity()
    assert state.file("identity.json").read_text() == "{not json"


def test_writes_leave_no_temporary_files(tmp_path):
    state = StateDir(tmp_path)

    for _ in range(3):
        state.save_identity(identity())
        state.save_intent(Intent(draining=True))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "identity.json",
        "intent.json",
    ]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    state = StateDir(tmp_path)
    state.save_identity(identity())
    os.chmod(tmp_path, 0o500)
    try:
        if os.geteuid() == 0:
            # root ignores directory permissions; make the write fail instead
            # by replacing the target with a directory of the same name.
            state.file(f".identity.json.{os.getpid()}.tmp").mkdir()
        with pytest.raises(StateError, match="cannot write"):
            state.save_identity(
                Identity(runner_id="x", token=Secret("dtn_other_key_999999"))
            )
    finally:
        os.chmod(tmp_path, 0o700)

    assert state.load_identity() == identity()


def test_the_intent_remembers_what_was_asked(tmp_path):
    state = StateDir(tmp_path)
    state.save_intent(Intent(draining=True, draining_since="t", cordoned_by_agent=True))

    loaded = state.load_intent()

    assert (loaded.draining, loaded.cordoned_by_agent) == (True, True)
    assert StateDir(tmp_path / "new").load_intent() == Intent()


def test_the_lock_serialises_holders(tmp_path):
    state = StateDir(tmp_path)
    order: list[str] = []

    def hold(name: str) -> None:
        with state.lock():
            order.append(f"{name}-in")
            time.sleep(0.1)
            order.append(f"{name}-out")

    threads = [threading.Thread(target=hold, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert order[0].endswith("-in")
    assert order[1].endswith("-out")
    assert order[2].endswith("-in")
    assert order[3].endswith("-out")


def test_overlapping_intent_updates_both_land(tmp_path):
    state = StateDir(tmp_path)

    def slowly(field: str):
        def change(intent: Intent) -> None:
            time.sleep(0.1)  # the other update would read the old record here
            setattr(intent, field, True)

        return change

    threads = [
        threading.Thread(target=state.update_intent, args=(slowly(field),))
        for field in ("draining", "cordoned_by_agent")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    loaded = state.load_intent()
    assert (loaded.draining, loaded.cordoned_by_agent) == (True, True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
def test_files_root_writes_belong_to_the_directory_owner(tmp_path):
    state = StateDir(tmp_path / "state")
    state.ensure()
    os.chown(state.path, 4242, 4343)

    state.save_identity(identity())
    with state.lock():
        pass

    for name in ("identity.json", ".lock"):
        info = os.stat(state.file(name))
        assert (info.st_uid, info.st_gid) == (4242, 4343)


def test_files_written_as_root_are_handed_to_the_directory_owner(tmp_path, monkeypatch):
    """The same hand-over without root: only root may give files away, so
    being root is faked (os.geteuid) and the os.fchown calls are recorded
    instead of made."""
    state = StateDir(tmp_path / "state")
    state.ensure()
    if os.geteuid() == 0:
        os.chown(state.path, 4242, 4343)
    owner = os.stat(state.path)
    given: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "fchown", lambda fd, uid, gid: given.append((uid, gid)))

    state.save_identity(identity())
    with state.lock():
        pass

    assert owner.st_uid != 0
    assert given == [(owner.st_uid, owner.st_gid)] * 2
