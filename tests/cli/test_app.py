"""The command line's entry: what it loads, and how it reports misuse."""

from __future__ import annotations

import re
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
        "from runner_agent.cli.main import main\n"
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


def test_the_daemon_loads_no_library_it_does_not_use(agent_env, emulator, tmp_path):
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
    # The local endpoint is on (agent_env listens on a free port), served
    # without waitress; typer is left out on a plain command line, and
    # difflib is for the hint of an unknown configuration key only.
    assert not imported & {
        "typer",
        "waitress",
        "difflib",
        "mcp",
        "rich",
        "pygments",
        "click",
        "pydantic",
        "uvicorn",
        "starlette",
    }


def command_paths(command, path=()) -> list[tuple[str, ...]]:
    """Every command and group below ``command``, as argument lists."""
    found = [path]
    for name, child in getattr(command, "commands", {}).items():
        found += command_paths(child, (*path, name))
    return found


def test_every_command_and_group_shows_an_example_in_its_help():
    import typer.main
    from typer.testing import CliRunner

    from runner_agent.cli.app import app

    paths = command_paths(typer.main.get_command(app))
    runner = CliRunner()

    helps = {path: runner.invoke(app, [*path, "--help"]) for path in paths}

    assert {("config",), ("runners",), ("runners", "watch"), ("emulator",)} <= set(
        paths
    )
    assert len(paths) > 25
    assert [path for path, help in helps.items() if help.exit_code != 0] == []
    assert [
        " ".join(path) or "runner-agent"
        for path, help in helps.items()
        if not re.search(r"^ *Example: .*runner-agent ", help.output, re.MULTILINE)
    ] == []


def test_shell_completion_prints_a_script_and_completes_commands(cli):
    from tests.cli.conftest import base_env

    def complete(words: str) -> list[str]:
        env = base_env(
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            _RUNNER_AGENT_COMPLETE="complete_bash",
        )
        result = cli(env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    script = cli("--show-completion", "bash")

    assert script.returncode == 0
    assert "_RUNNER_AGENT_COMPLETE=complete_bash" in script.stdout
    assert "complete -o default -F _runner_agent_completion runner-agent" in (
        script.stdout
    )
    assert complete("runner-agent runners wa") == ["watch"]
    assert complete("runner-agent config ") == ["check", "show"]
    assert "--count" in complete("runner-agent runners watch --cou")
