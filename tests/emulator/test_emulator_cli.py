"""``runner-agent emulator`` run as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

RUN = (
    "import typer; from runner_agent.cli.emulator_cmd import emulator; "
    "typer.run(emulator)"
)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def process() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test, killed if the test left them running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(5)


def test_json_line_describes_a_working_emulator_that_stops_on_sigterm(process):
    child = start("--json")
    process.append(child)
    assert child.stdout is not None

    facts = json.loads(child.stdout.readline())
    key = {"Authorization": f"Bearer {facts['organizationKey']}"}
    listed = httpx.get(f"{facts['url']}/runners", headers=key)
    child.send_signal(signal.SIGTERM)

    assert child.wait(10) == 0
    assert set(facts) == {
        "url",
        "controlUrl",
        "organizationId",
        "organizationKey",
        "proxyKey",
        "regionId",
        "regionName",
        "pid",
    }
    assert facts["pid"] == child.pid
    assert facts["url"].endswith("/api")
    assert listed.status_code == 200


def test_fixed_keys_region_and_timings_are_used(process):
    region_id = str(uuid.uuid4())
    child = start(
        "--json",
        "--organization-key",
        "dtn_org",
        "--proxy-key",
        "dtn_proxy",
        "--region-id",
        region_id,
        "--region-name",
        "lab",
        "--check-interval",
        "200ms",
        "--unresponsive-after",
        "2m",
        "--decommission-checks",
        "5",
    )
    process.append(child)
    assert child.stdout is not None

    facts = json.loads(child.stdout.readline())
    settings = httpx.get(f"{facts['controlUrl']}/state").json()["settings"]
    child.send_signal(signal.SIGINT)

    assert child.wait(10) == 0
    assert (facts["organizationKey"], facts["proxyKey"]) == ("dtn_org", "dtn_proxy")
    assert (facts["regionId"], facts["regionName"]) == (region_id, "lab")
    assert settings["checkInterval"] == 0.2
    assert settings["unresponsiveAfter"] == 120
    assert settings["decommissionChecks"] == 5


def test_human_output_shows_the_url_and_the_keys(process):
    child = start("--organization-key", "dtn_org")
    process.append(child)
    assert child.stdout is not None

    lines = [child.stdout.readline() for _ in range(8)]
    child.send_signal(signal.SIGINT)

    assert child.wait(10) == 0
    text = "".join(lines)
    assert "http://127.0.0.1:" in text
    assert "dtn_org" in text
    assert "control url" in text


def test_bad_duration_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "-m", "runner_agent", "emulator", "--check-interval", "soon"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert "soon" in done.stderr
    assert "--check-interval" in done.stderr


def test_port_already_in_use_exits_1(emulator):
    port = emulator.base_url.rsplit(":", 1)[1]

    done = subprocess.run(
        [sys.executable, "-c", RUN, "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 1
    assert "cannot listen" in done.stderr


def test_help_does_not_load_the_server():
    probe = (
        "import sys, typer\n"
        "from runner_agent.cli.emulator_cmd import emulator\n"
        "sys.argv = ['emulator', '--help']\n"
        "try:\n"
        "    typer.run(emulator)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('loaded' if 'waitress' in sys.modules else 'not loaded')\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )

    assert "--unresponsive-after" in done.stdout
    assert done.stdout.strip().endswith("not loaded")
