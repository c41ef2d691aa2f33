"""The [docker] and CPU sampling keys of the configuration file."""

from __future__ import annotations

import pytest

from runner_agent.config import load_config
from runner_agent.errors import ConfigError


def _load(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, env={})


def test_docker_and_cpu_keys_default_as_daytonas_runner(tmp_path):
    config = _load(tmp_path, "")

    assert config.docker.socket == "/var/run/docker.sock"
    assert config.docker.sandbox_label == ""
    assert config.docker.refresh_interval == 10.0
    assert config.docker.timeout == 5.0
    assert config.docker.required is False
    assert config.healthcheck.cpu_sample_interval == 5.0
    assert config.healthcheck.cpu_window == 60


def test_docker_keys_are_read_from_the_file(tmp_path):
    config = _load(
        tmp_path,
        """
        [docker]
        socket = "/run/docker.sock"
        sandbox_label = "daytona.sandbox=true"
        refresh_interval = "30s"
        timeout = "3s"
        required = true

        [healthcheck]
        cpu_sample_interval = "2s"
        cpu_window = 30
        """,
    )

    assert config.docker.socket == "/run/docker.sock"
    assert config.docker.sandbox_label == "daytona.sandbox=true"
    assert (config.docker.refresh_interval, config.docker.timeout) == (30.0, 3.0)
    assert config.docker.required is True
    assert config.healthcheck.cpu_window == 30


def test_a_docker_timeout_as_long_as_the_refresh_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, '[docker]\nrefresh_interval = "5s"\ntimeout = "5s"\n')

    assert caught.value.key == "docker.timeout"


def test_a_short_refresh_brings_the_default_timeout_along(tmp_path):
    config = _load(tmp_path, '[docker]\nrefresh_interval = "1s"\n')

    assert config.docker.timeout == 0.5


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[healthcheck]\ncpu_window = 0\n", "healthcheck.cpu_window"),
        ('[healthcheck]\ncpu_window = "many"\n', "healthcheck.cpu_window"),
        ('[docker]\nsandbox_label = "a b"\n', "docker.sandbox_label"),
    ],
)
def test_bad_values_are_refused_with_their_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)

    assert caught.value.key == key
