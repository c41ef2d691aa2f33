"""The command line's entry: what it loads, and how it reports misuse."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from tests.cli.conftest import COMMAND

HEAVY = ("httpx", "waitress", "structlog", "apscheduler", "prometheus_client", "mcp")


def test_help_loads_no_client_server_or_scheduler(cli):
    probe = (
        "import sys\n"
        "from runner_agent.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_misuse_is_one_line_and_exit_2(cli):
    unknown_flag = cli("register", "--bogus")
    unknown_command = cli("nosuch")
    missing_argument = cli("runners", "get")

    for result in (unknown_flag, unknown_command, missing_argument):
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
    assert "No such option: --bogus" in unknown_flag.stderr
    assert "--help" in unknown_flag.stderr


def beaten(emulator) -> bool:
    runners = httpx.get(f"{emulator.control_url}/state").json()["runners"]
    return any(runner["healthcheckCount"] for runner in runners)


def test_the_daemon_never_loads_the_mcp_sdk_or_rich(agent_env, emulator, tmp_path):
    trace = tmp_path / "imports.txt"
    with trace.open("w") as sink:
        agent = subprocess.Popen(
            [*COMMAND, "run", "--region-id", emulator.region_id, "--interval", "0.3s"],
            env={**agent_env, "PYTHONVERBOSE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not beaten(emulator):
            time.sleep(0.1)
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=20)

    imported = {
        line.split("'")[1].split(".")[0]
        for line in trace.read_text().splitlines()
        if line.startswith("import '")
    }
    assert agent.returncode == 0
    assert "httpx" in imported
    assert not imported & {
        "mcp",
        "rich",
        "pygments",
        "pydantic",
        "uvicorn",
        "starlette",
    }
