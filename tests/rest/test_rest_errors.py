"""The adapter's answers when the control plane, or this machine, fails."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from runner_agent.created_runners import CREATED_RUNNERS_DIR


def inject(emulator, **fault: object) -> None:
    response = httpx.post(f"{emulator.control_url}/faults", json=fault)
    response.raise_for_status()


def wait_for_runner(emulator, name: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for runner in emulator.store.list_runners():
            if runner["name"] == name:
                return str(runner["id"])
        time.sleep(0.02)
    raise AssertionError(f"runner {name} was never created")


def test_a_key_lost_after_the_create_names_the_orphaned_runner(make_rest, emulator):
    rest = make_rest()
    keys_dir = Path(rest.config.state_dir) / CREATED_RUNNERS_DIR
    keys_dir.mkdir(parents=True)
    inject(emulator, method="POST", path="/runners", delayAfter=1.0)
    body = {"regionId": emulator.region_id, "name": "orphan"}
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(
            rest.http.post("/v1/runners", json=body, headers=rest.auth())
        )
    )

    request.start()
    runner_id = wait_for_runner(emulator, "orphan")
    # The keys' directory becomes a plain file while the answer is on its
    # way: no key can be written there, whoever the test runs as.
    shutil.rmtree(keys_dir)
    keys_dir.write_text("not a directory\n")
    request.join(30)

    message = answers[0].json()["message"]
    assert answers[0].status_code == 500
    assert f"runner {runner_id} was created" in message
    assert "the key is lost" in message


def test_a_create_refused_before_the_call_makes_no_runner(make_rest, emulator):
    rest = make_rest()
    state_dir = Path(rest.config.state_dir)
    state_dir.mkdir(parents=True)
    (state_dir / CREATED_RUNNERS_DIR).write_text("not a directory\n")
    body = {"regionId": emulator.region_id, "name": "never-made"}

    answer = rest.http.post("/v1/runners", json=body, headers=rest.auth())

    assert answer.status_code == 500
    assert "the runner was not created" in answer.json()["message"]
    assert emulator.store.list_runners() == []


def test_a_429_keeps_its_retry_after(rest, emulator):
    inject(emulator, method="GET", path="/runners", status=429, retryAfter=7)

    answer = rest.http.get("/v1/runners")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["statusCode"] == 429


def test_a_dropped_connection_answers_502(rest, emulator):
    inject(emulator, method="GET", path="/runners", drop=True)

    answer = rest.http.get("/v1/runners")

    assert answer.status_code == 502
    assert answer.json()["error"] == "Bad Gateway"


def test_no_answer_within_the_timeout_answers_504(make_rest, emulator):
    rest = make_rest(api_timeout=0.3)
    inject(emulator, method="GET", path="/runners", delay=2.0)

    answer = rest.http.get("/v1/runners")

    assert answer.status_code == 504
    assert answer.json()["error"] == "Gateway Timeout"
