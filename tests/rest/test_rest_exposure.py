"""The REST adapter never answers beyond loopback without a token."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from runner_agent.config import load_config
from runner_agent.config.inspect import effective_values
from runner_agent.errors import ConfigError

EXPOSED = '[local_api]\nrest = true\nlisten = "0.0.0.0:9713"\n'


@pytest.fixture
def exposed(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(EXPOSED)
    return path


def test_rest_beyond_loopback_without_a_token_is_refused(exposed):
    with pytest.raises(ConfigError) as refused:
        load_config(exposed, env={})

    assert refused.value.key == "local_api.rest"
    assert str(exposed) in str(refused.value)
    assert "0.0.0.0:9713" in str(refused.value)


def test_rest_beyond_loopback_with_a_token_is_accepted(exposed):
    config = load_config(exposed, env={"RUNNER_AGENT_LOCAL_TOKEN": "local-token-1"})

    assert config.local_api.rest is True
    assert config.local_api.token is not None
    assert config.local_api.token.reveal() == "local-token-1"


def test_rest_on_loopback_needs_no_token(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[local_api]\nrest = true\n")

    config = load_config(path, env={})

    assert config.local_api.rest is True
    assert config.local_api.token is None


def test_the_token_can_come_from_a_file(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-a-file-token\n")

    config = load_config(os.devnull, env={"RUNNER_AGENT_LOCAL_TOKEN_FILE": str(secret)})

    assert config.local_api.token is not None
    assert config.local_api.token.reveal() == "from-a-file-token"


def test_an_inline_token_in_a_readable_file_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[local_api]\ntoken = "inline-local-token"\n')
    path.chmod(0o644)

    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})

    assert refused.value.key == "local_api.token"


def test_config_show_masks_the_token():
    config = load_config(
        os.devnull, env={"RUNNER_AGENT_LOCAL_TOKEN": "a-long-local-token-1234"}
    )

    shown = {key: value for key, value, _ in effective_values(config)}

    assert shown["local_api.token"] == "****1234"
    assert shown["local_api.rest"] is False


def test_config_check_exits_78_for_an_exposed_rest_adapter(exposed, tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAYTONA_", "RUNNER_AGENT_", "CREDENTIALS_"))
    }

    result = subprocess.run(
        [sys.executable, "-m", "runner_agent", "config", "check", "-c", str(exposed)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 78
    assert "local_api.rest" in result.stderr
    assert "without a token" in result.stderr
