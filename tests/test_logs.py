"""Logging as configured in one place: format, level and masking of keys."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator

import pytest
import structlog

from runner_agent import logs
from runner_agent.credentials import Secret, mask

KEY = "dtn_logging_test_key_0123456789abcdef"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    logs.reset_renderer()
    logs.configure_logging("info", "auto", sys.stderr)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_known_key_is_masked_wherever_it_appears():
    Secret(KEY)
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream)

    structlog.get_logger("test").info(
        "request_sent",
        message=f"Bearer {KEY} was refused",
        nested={"headers": [f"x {KEY}"], "plain": KEY},
    )

    line = json_lines(stream)[0]
    assert KEY not in stream.getvalue()
    assert line["message"] == f"Bearer {mask(KEY)} was refused"
    assert line["nested"] == {"headers": [f"x {mask(KEY)}"], "plain": mask(KEY)}


def test_a_key_in_a_traceback_is_masked():
    Secret(KEY)
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream)

    try:
        raise RuntimeError(f"the server refused {KEY}")
    except RuntimeError:
        structlog.get_logger("test").exception("job_crashed")

    line = json_lines(stream)[0]
    assert "RuntimeError" in line["exception"]
    assert KEY not in stream.getvalue()


def test_a_value_under_a_secret_name_is_masked_even_if_unknown():
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream)

    structlog.get_logger("test").info(
        "headers", authorization="Bearer some-unregistered-value-1234"
    )

    assert json_lines(stream)[0]["authorization"] == mask(
        "Bearer some-unregistered-value-1234"
    )


def test_lines_below_the_level_are_dropped():
    stream = io.StringIO()
    logs.configure_logging("warning", "json", stream)
    log = structlog.get_logger("test")

    log.info("quiet_detail")
    log.warning("worth_saying")

    assert [line["event"] for line in json_lines(stream)] == ["worth_saying"]
    assert json_lines(stream)[0]["level"] == "warning"


def test_auto_writes_json_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    logs.configure_logging("info", "auto", stream)

    structlog.get_logger("test").info("agent_started", interval=10)

    line = json_lines(stream)[0]
    assert (line["event"], line["interval"]) == ("agent_started", 10)
    assert line["timestamp"].endswith("Z")


def test_auto_writes_readable_lines_on_a_terminal():
    controller, terminal = os.openpty()
    with os.fdopen(terminal, "w") as stream:
        logs.configure_logging("info", "auto", stream)
        structlog.get_logger("test").info("agent_started", interval=10)
        stream.flush()
        written = os.read(controller, 4096).decode()
    os.close(controller)

    assert "agent_started" in written
    assert "interval" in written
    assert not written.lstrip().startswith("{")


def test_standard_library_logging_is_rendered_and_masked_the_same_way():
    Secret(KEY)
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream)

    logging.getLogger("some.library").error("failed with %s", KEY)

    line = json_lines(stream)[0]
    assert line["event"] == f"failed with {mask(KEY)}"
    assert line["logger"] == "some.library"
