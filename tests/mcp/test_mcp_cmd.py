"""``runner-agent mcp`` refusals: no SDK, an address beyond loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

WITHOUT_SDK = """
import sys
sys.modules["mcp"] = None  # any import of the SDK now fails
from runner_agent.cli.main import main
main(["mcp"])
"""

LOADED_SDK = """
import sys
import runner_agent.cli.app, runner_agent.rest_adapter
print([name for name in sys.modules if name.split(".")[0] in ("mcp", "mcp_types")])
"""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_the_sdk_it_says_how_to_install_it(server_env):
    result = _run(["-c", WITHOUT_SDK], server_env())

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "runner-agent: the MCP server needs the MCP SDK: "
        "pip install 'runner-agent[mcp]'"
    ]


def test_http_beyond_loopback_is_refused_without_allow_remote(server_env):
    command = ["-m", "runner_agent", "mcp", "--http", "--listen", "0.0.0.0:9"]

    result = _run(command, server_env(RUNNER_AGENT_LOCAL_TOKEN="a-local-token"))

    assert result.returncode == 2
    assert "beyond loopback" in result.stderr
    assert "--allow-remote" in result.stderr


def test_allow_remote_without_a_token_is_a_configuration_error(server_env):
    command = ["-m", "runner_agent", "mcp", "--http", "--allow-remote"]

    result = _run([*command, "--listen", "0.0.0.0:9"], server_env())

    assert result.returncode == 78
    assert "RUNNER_AGENT_LOCAL_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--listen", "127.0.0.1:9714"], "--listen needs --http"),
        (["--http", "--listen", "nowhere"], "is not host:port"),
    ],
)
def test_bad_transport_options_are_usage_errors(server_env, args, fragment):
    result = _run(["-m", "runner_agent", "mcp", *args], server_env())

    assert result.returncode == 2
    assert fragment in result.stderr


def test_the_command_line_and_the_rest_adapter_do_not_load_the_sdk(server_env):
    result = _run(["-c", LOADED_SDK], server_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
