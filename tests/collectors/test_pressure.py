"""Pressure stall information from /proc/pressure."""

from __future__ import annotations

import os

import pytest

from runner_agent.collectors.pressure import parse_pressure, read_pressure

SAMPLE = b"""some avg10=1.50 avg60=0.75 avg300=0.10 total=123456
full avg10=0.25 avg60=0.00 avg300=0.00 total=789
"""


def test_pressure_lines_become_camel_case_figures():
    figures = parse_pressure(SAMPLE)

    assert figures == {
        "someAvg10": 1.5,
        "someAvg60": 0.75,
        "someAvg300": 0.1,
        "fullAvg10": 0.25,
        "fullAvg60": 0.0,
        "fullAvg300": 0.0,
    }


def test_an_empty_pressure_file_is_an_error():
    with pytest.raises(ValueError, match="no pressure figures"):
        parse_pressure(b"")


def test_pressure_of_this_host_is_read_as_percentages():
    if not os.path.exists("/proc/pressure/cpu"):
        if os.environ.get("RUNNER_AGENT_CI"):
            pytest.fail("kernel without PSI; CI must run this test")
        pytest.skip("kernel without PSI")
    with open("/proc/pressure/memory", "rb") as stream:
        listed = {line.split()[0].decode() for line in stream.read().splitlines()}

    report = read_pressure()

    assert set(report) == {"cpu", "memory", "io"}
    assert {key[:4] for key in report["memory"]} == listed
    assert all(0.0 <= value <= 100.0 for value in report["memory"].values())
