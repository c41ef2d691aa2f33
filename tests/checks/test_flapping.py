"""Damping through the real runner: each kind's target really goes up and down.

The checks are started by :meth:`CheckRunner.dispatch`, as the daemon's
periodic job starts them, and probe a real HTTP server, a real TCP port and
a real command. Two failures in a row turn a check unhealthy and two
successes in a row turn it healthy again; a single flap changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from runner_agent.checks import CheckRunner
from runner_agent.config.checks import CheckConfig

# The target after each run, and the health the runner should then report:
# unknown until two passes, a lone failure absorbed, two failures to turn
# unhealthy, a lone pass absorbed, two passes to recover.
SCRIPT = [
    (True, None),
    (True, True),
    (False, True),
    (True, True),
    (False, True),
    (False, False),
    (True, False),
    (False, False),
    (True, False),
    (True, True),
]
DAMPING = {
    "failures_before_unhealthy": 2,
    "successes_before_healthy": 2,
    # Runs follow each other quickly; the timeout is generous so that a busy
    # machine cannot turn a pass into a failure.
    "interval": 0.05,
    "timeout": 5.0,
}


def _next_run(runner: CheckRunner) -> None:
    """Dispatch, as the daemon's job does, until the check has run once more."""
    (state,) = runner.states()
    before = state.last_run
    deadline = time.monotonic() + 10
    while state.last_run == before:
        assert time.monotonic() < deadline, "the check did not run"
        runner.dispatch()
        time.sleep(0.01)


def _follow(check: CheckConfig, set_up: Callable[[bool], None]) -> list[bool | None]:
    runner = CheckRunner((check,))
    seen = []
    try:
        for up, _ in SCRIPT:
            set_up(up)
            _next_run(runner)
            seen.append(runner.states()[0].healthy)
    finally:
        runner.close()
    return seen


@pytest.fixture
def expected() -> list[bool | None]:
    return [health for _, health in SCRIPT]


def test_an_http_check_is_damped_against_a_flapping_server(service, expected):
    check = CheckConfig(name="web", kind="http", url=service.url, **DAMPING)

    def set_up(up: bool) -> None:
        service.status = 200 if up else 503

    assert _follow(check, set_up) == expected


def test_a_tcp_check_is_damped_against_a_port_that_comes_and_goes(port, expected):
    check = CheckConfig(name="redis", kind="tcp", address=port.address, **DAMPING)

    def set_up(up: bool) -> None:
        if up:
            port.up()
        else:
            port.down()

    assert _follow(check, set_up) == expected


def test_a_command_check_is_damped_against_a_flapping_command(tmp_path, expected):
    flag = tmp_path / "up"
    command = ("test", "-e", str(flag))
    check = CheckConfig(name="flag", kind="command", command=command, **DAMPING)

    def set_up(up: bool) -> None:
        if up:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    assert _follow(check, set_up) == expected


def test_an_unhealthy_check_is_reported_with_its_reason(service):
    check = CheckConfig(name="web", kind="http", url=service.url, **DAMPING)
    runner = CheckRunner((check,))
    service.status = 503

    _next_run(runner)
    _next_run(runner)
    reported = runner.service_health()
    runner.close()

    assert reported == [
        {
            "serviceName": "web",
            "healthy": False,
            "errorReason": "HTTP 503, expected 200",
        }
    ]
