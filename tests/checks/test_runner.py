"""Running checks in the background, damping flaps, and what gets reported."""

from __future__ import annotations

import time

import pytest
from daytona_api_client.models import RunnerServiceHealth
from structlog.testing import capture_logs

from runner_agent.checks import CheckRunner, CheckState, Outcome
from runner_agent.config.checks import CheckConfig
from runner_agent.credentials import Secret

PASS = Outcome(ok=True)
FAIL = Outcome(ok=False, reason="HTTP 503, expected 200")


def _check(name: str = "web", **fields) -> CheckConfig:
    fields.setdefault("command", ("true",))
    return CheckConfig(name=name, kind="command", **fields)


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def runner_for():
    runners = []

    def make(*checks: CheckConfig) -> CheckRunner:
        runner = CheckRunner(checks)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def test_health_is_unknown_and_unreported_until_a_threshold_is_reached():
    state = CheckState(_check(failures_before_unhealthy=3))

    state.record(FAIL)
    state.record(FAIL)

    assert state.healthy is None
    assert state.service() is None


def test_failures_in_a_row_turn_a_check_unhealthy():
    state = CheckState(_check(failures_before_unhealthy=2))
    state.record(PASS)

    state.record(FAIL)
    after_one = state.healthy
    state.record(FAIL)

    assert after_one is True
    assert state.service() == {
        "serviceName": "web",
        "healthy": False,
        "errorReason": "HTTP 503, expected 200",
    }


def test_a_flapping_check_stays_as_it_was():
    state = CheckState(_check(failures_before_unhealthy=2, successes_before_healthy=2))
    state.record(PASS)
    state.record(PASS)

    for outcome in [FAIL, PASS, FAIL, PASS, FAIL, PASS]:
        state.record(outcome)

    assert state.healthy is True


def test_an_unhealthy_check_needs_successes_in_a_row_to_recover():
    state = CheckState(_check(successes_before_healthy=3))
    state.record(FAIL)

    state.record(PASS)
    state.record(PASS)
    still = state.healthy
    state.record(PASS)

    assert still is False
    assert state.healthy is True


def test_turning_unhealthy_and_recovering_is_logged_once_each():
    state = CheckState(_check())

    with capture_logs() as logs:
        for outcome in [PASS, FAIL, FAIL, FAIL, PASS, PASS]:
            state.record(outcome)

    events = [e["event"] for e in logs if e["log_level"] != "debug"]
    assert events == ["check_failing", "check_recovered"]


def test_an_undamped_run_is_taken_at_face_value():
    state = CheckState(_check(failures_before_unhealthy=5))

    state.record(FAIL, damped=False)

    assert state.healthy is False


def test_local_only_checks_are_never_reported(runner_for):
    runner = runner_for(
        _check("sent", command=("false",)),
        _check("kept", command=("false",), local_only=True),
    )

    runner.run_all()

    assert [s["serviceName"] for s in runner.service_health()] == ["sent"]
    assert {c["name"] for c in runner.report(time.monotonic())} == {"sent", "kept"}


def test_reported_entries_parse_with_the_strict_api_model(runner_for):
    runner = runner_for(_check("ok"), _check("bad", command=("false",)))

    runner.run_all()
    entries = runner.service_health()

    assert [entry["serviceName"] for entry in entries] == ["ok", "bad"]
    for entry in entries:
        parsed = RunnerServiceHealth.from_dict(entry)
        assert parsed.additional_properties == {}


def test_dispatch_returns_at_once_and_checks_run_concurrently(runner_for):
    slow = [_check(f"slow{i}", command=("sleep", "0.5"), timeout=2.0) for i in range(4)]
    runner = runner_for(*slow)

    started = time.monotonic()
    runner.dispatch()
    dispatched = time.monotonic() - started
    _wait_until(lambda: len(runner.service_health()) == 4)
    took = time.monotonic() - started

    assert dispatched < 0.4
    assert took < 1.9
    assert all(entry["healthy"] for entry in runner.service_health())


def test_a_check_is_not_started_again_before_its_interval(runner_for):
    runner = runner_for(_check(interval=60.0))

    runner.dispatch()
    _wait_until(lambda: runner.states()[0].last is not None)
    runner.dispatch()
    time.sleep(0.1)

    assert runner.report(time.monotonic())[0]["consecutiveSuccesses"] == 1


def test_error_reasons_are_short_and_mask_known_keys(runner_for):
    key = Secret("dtn_check_secret_0123456789abcdef").reveal()
    script = f"echo 'refused for {key}' {'x' * 300}; exit 1"
    runner = runner_for(_check(command=("sh", "-c", script)))

    runner.run_all()

    reason = runner.service_health()[0]["errorReason"]
    assert key not in reason
    assert "****cdef" in reason
    assert len(reason) <= 200


def test_reconfigure_keeps_the_state_of_unchanged_checks(runner_for):
    kept, changed = _check("kept"), _check("changed")
    runner = runner_for(kept, changed)
    runner.run_all()

    runner.reconfigure((kept, _check("changed", command=("false",)), _check("new")))

    health = {s.config.name: s.healthy for s in runner.states()}
    assert health == {"kept": True, "changed": None, "new": None}


def test_the_dispatch_tick_follows_the_shortest_interval(runner_for):
    assert runner_for().tick_interval() == 1.0
    assert runner_for(_check(interval=0.2, timeout=0.1)).tick_interval() == 0.1


def _http_check(url: str, **fields) -> CheckConfig:
    return CheckConfig(name="web", kind="http", url=url, **fields)


def test_http_checks_do_not_go_through_the_environments_proxy(
    runner_for, service, closed_port, monkeypatch
):
    proxy = "http://{}:{}".format(*closed_port)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    runner = runner_for(_http_check(service.url))

    runner.run_all()

    assert runner.service_health() == [{"serviceName": "web", "healthy": True}]
    assert service.requests == 1


def test_a_check_still_running_at_shutdown_logs_nothing_after_it(runner_for, service):
    service.hang.set()
    runner = runner_for(_http_check(service.url, timeout=1.0))
    runner.dispatch()
    _wait_until(lambda: service.requests == 1)
    (state,) = runner.states()

    with capture_logs() as logs:
        runner.close()
        _wait_until(lambda: not state.running)

    assert [e for e in logs if e["log_level"] in ("warning", "error")] == []
    assert state.last is None
    assert state.healthy is None
