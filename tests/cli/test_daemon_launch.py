"""The daemon's own launcher: a plain ``run`` starts without typer.

The launcher and typer's ``run`` command must agree on every option: the
first test holds the two lists equal, so that neither can gain a flag the
other does not know.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from runner_agent.cli.daemon_launch import RUN_OPTIONS, plain_run_options
from tests.cli.conftest import COMMAND
from tests.cli.test_run import emulated_runners, wait_for


def test_the_launcher_knows_exactly_the_options_of_typers_run():
    import typer.main

    from runner_agent.cli.app import app

    run = typer.main.get_command(app).commands["run"]
    typer_flags = {
        flag: param.name
        for param in run.params
        if param.name != "help"
        for flag in (*param.opts, *param.secondary_opts)
    }
    # typer names the parameter after the function's argument.
    assert typer_flags == RUN_OPTIONS
    assert all(not param.is_flag for param in run.params if param.name != "help")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run"], {}),
        (
            ["run", "--interval", "2s", "--listen=off", "-c", "/etc/a.toml"],
            {"interval": "2s", "listen": "off", "config_path": "/etc/a.toml"},
        ),
        (
            ["run", "--log-level", "info", "--log-level", "debug"],
            {"log_level": "debug"},
        ),
        (["run", "--api-url=https://x/api?a=b"], {"api_url": "https://x/api?a=b"}),
    ],
)
def test_a_plain_run_command_line_is_read_without_typer(args, expected):
    assert plain_run_options(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["status"],
        ["run", "--help"],
        ["run", "-h"],
        ["run", "--bogus", "1"],
        ["run", "--interval"],
        ["run", "--interval", ""],
        ["run", "--interval", "--listen", "off"],
        ["run", "-c=/etc/a.toml"],
        ["run", "-c/etc/a.toml"],
        ["run", "--", "--interval", "2s"],
        ["run", "extra"],
    ],
)
def test_anything_else_is_left_to_typer(args):
    assert plain_run_options(args) is None


def test_a_form_only_typer_reads_still_starts_the_daemon(agent_env, emulator, tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'[runner]\nregion_id = "{emulator.region_id}"\n')
    # "-c<path>" is click's attached short form, which the launcher leaves
    # to typer; the daemon it starts is the same.
    agent = subprocess.Popen(
        [*COMMAND, "run", f"-c{config}", "--interval", "0.2s"],
        env={**agent_env, "RUNNER_AGENT_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: [r for r in emulated_runners(emulator) if r["healthcheckCount"]]
        )
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=10)
    finally:
        agent.kill()

    events = [json.loads(line)["event"] for line in stderr.splitlines() if line]
    assert agent.returncode == 0
    assert events[0] == "runner_registered"
    assert events[-1] == "agent_stopped"


def test_a_bad_value_on_the_plain_path_is_one_line_naming_the_flag(cli, agent_env):
    result = cli("run", "--interval", "soon", env=agent_env, timeout=30)

    assert result.returncode == 78
    assert result.stderr.count("\n") == 1
    assert "--interval" in result.stderr
