"""``runner-agent demo``: starts, shows a ready runner, stops on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from pathlib import Path

from tests.cli.conftest import COMMAND, base_env


def test_demo_shows_a_ready_runner_and_stops_cleanly_on_sigint():
    demo = subprocess.Popen(
        [*COMMAND, "demo", "--interval", "0.5s"],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    saw_ready = threading.Event()

    def read() -> None:
        for line in demo.stdout:
            lines.append(line)
            if "→ ready" in line:
                saw_ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert saw_ready.wait(30), "".join(lines)
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=20)
    finally:
        demo.kill()
    reader.join(5)
    output = "".join(lines)

    workdir = Path(re.search(r"state\s+(\S+)", output).group(1))
    assert demo.returncode == 0, demo.stderr.read()
    assert "registered runner" in output
    assert "initializing, schedulable → ready, schedulable" in output
    assert "healthcheck accepted" in output
    assert "demo over" in output
    assert not workdir.exists()


def test_demo_can_stop_by_itself_after_a_duration(cli):
    result = cli("demo", "--interval", "0.2s", "--duration", "3s", timeout=60)

    assert result.returncode == 0
    assert "demo over" in result.stdout
    assert result.stderr == ""


def test_a_bad_duration_names_its_flag_and_exits_2(cli):
    result = cli("demo", "--duration", "soon", timeout=60)

    assert result.returncode == 2
    assert "--duration" in result.stderr
    assert "soon" in result.stderr
