"""The configuration: precedence, parsing, and errors that name the culprit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner_agent.config import FlagValue, load_config
from runner_agent.errors import ConfigError, MissingCredentialError


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_apply_without_file_or_environment(tmp_path):
    config = load_config(None, env={})

    assert config.api_url == "https://app.daytona.io/api"
    assert config.healthcheck.interval == 10.0
    assert config.local_api.listen == "127.0.0.1:9713"
    assert config.lifecycle.on_stop == "none"
    assert str(config.origin("api_url")) == "default"


def test_flag_beats_environment_beats_file(tmp_path):
    path = write(tmp_path / "c.toml", 'api_url = "https://file.example/api"\n')

    from_file = load_config(path, env={})
    from_env = load_config(path, env={"DAYTONA_API_URL": "https://env.example/api"})
    from_flag = load_config(
        path,
        env={"DAYTONA_API_URL": "https://env.example/api"},
        flags={"api_url": FlagValue("--api-url", "https://flag.example/api")},
    )

    assert from_file.api_url == "https://file.example/api"
    assert str(from_file.origin("api_url")) == str(path)
    assert from_env.api_url == "https://env.example/api"
    assert str(from_env.origin("api_url")) == "env DAYTONA_API_URL"
    assert from_flag.api_url == "https://flag.example/api"
    assert str(from_flag.origin("api_url")) == "flag --api-url"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(3, 3.0), (0.05, 0.05), ('"500ms"', 0.5), ('"10s"', 10.0), ('"2m"', 120.0)],
)
def test_durations_accept_numbers_and_unit_strings(tmp_path, raw, seconds):
    path = write(tmp_path / "c.toml", f"[healthcheck]\ninterval = {raw}\n")

    assert load_config(path, env={}).healthcheck.interval == seconds


def test_a_bad_file_value_names_the_file_and_the_key(tmp_path):
    path = write(tmp_path / "c.toml", '[healthcheck]\ninterval = "10x"\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    message = str(caught.value)
    assert message.startswith(f"healthcheck.interval (from {path}): ")
    assert "not a duration" in message
    assert "\n" not in message
    assert caught.value.exit_code == 78


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"api_url \(from env DAYTONA_API_URL\)"):
        load_config(None, env={"DAYTONA_API_URL": "ftp://nowhere"})


def test_a_bad_flag_names_the_flag():
    flags = {"local_api.listen": FlagValue("--listen", "nowhere")}

    with pytest.raises(ConfigError, match=r"local_api.listen \(from flag --listen\)"):
        load_config(None, env={}, flags=flags)


def test_an_unknown_key_is_refused_with_a_suggestion(tmp_path):
    path = write(tmp_path / "c.toml", "[healthcheck]\nintervall = 5\n")

    with pytest.raises(ConfigError, match=r"did you mean healthcheck.interval"):
        load_config(path, env={})


def test_invalid_toml_is_refused_with_its_position(tmp_path):
    path = write(tmp_path / "c.toml", "[healthcheck\n")

    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(path, env={})


def test_an_explicit_missing_file_is_an_error_but_the_default_is_not(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})

    assert load_config(None, env={}).path is None


def test_config_path_can_come_from_the_environment(tmp_path):
    path = write(tmp_path / "c.toml", '[runner]\nregion_id = "eu"\n')

    config = load_config(None, env={"RUNNER_AGENT_CONFIG": str(path)})

    assert config.runner.region_id == "eu"


def test_an_inline_key_in_a_readable_file_is_refused(tmp_path):
    path = write(tmp_path / "c.toml", 'api_key = "dtn_0123456789abcdef"\n', 0o644)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert "readable by others" in str(caught.value)
    assert "chmod 600" in str(caught.value)
    assert "dtn_0123456789abcdef" not in str(caught.value)


def test_an_inline_key_in_a_private_file_is_accepted(tmp_path):
    path = write(tmp_path / "c.toml", 'api_key = "dtn_0123456789abcdef"\n', 0o600)

    key = load_config(path, env={}).credentials.organization

    assert key is not None
    assert key.reveal() == "dtn_0123456789abcdef"
    assert "0123456789abcdef" not in repr(key)


def test_keys_come_from_files_and_the_environment(tmp_path):
    key_file = write(tmp_path / "key", "dtn_from_a_file_123456\n")
    path = write(tmp_path / "c.toml", f'api_key_file = "{key_file}"\n', 0o644)

    from_file = load_config(path, env={})
    from_env = load_config(path, env={"DAYTONA_API_KEY": "dtn_from_the_env_1234"})

    assert from_file.credentials.organization.reveal() == "dtn_from_a_file_123456"
    assert from_env.credentials.organization.reveal() == "dtn_from_the_env_1234"


def test_a_systemd_credential_is_the_last_resort(tmp_path, monkeypatch):
    write(tmp_path / "daytona-api-key", "dtn_systemd_credential_1")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))

    config = load_config(None, env={})

    assert config.credentials.organization.reveal() == "dtn_systemd_credential_1"
    assert config.origin("api_key").kind == "credential"


def test_an_unreadable_key_file_names_the_key_and_path(tmp_path):
    path = write(tmp_path / "c.toml", f'api_key_file = "{tmp_path}/missing"\n')

    with pytest.raises(ConfigError, match=r"api_key_file \(from .*\): cannot read"):
        load_config(path, env={})


def test_both_inline_and_file_forms_of_a_key_are_refused(tmp_path):
    env = {"DAYTONA_API_KEY": "dtn_aaaaaaaaaaaa", "DAYTONA_API_KEY_FILE": "/x"}

    with pytest.raises(ConfigError, match="not both"):
        load_config(None, env=env)


@pytest.mark.parametrize(
    ("section", "interval_key"),
    [("healthcheck", "interval"), ("docker", "refresh_interval")],
)
def test_a_timeout_longer_than_the_interval_is_refused(tmp_path, section, interval_key):
    path = write(tmp_path / "c.toml", f"[{section}]\n{interval_key} = 5\ntimeout = 6\n")

    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})

    assert refused.value.key == f"{section}.timeout"
    assert f"shorter than {section}.{interval_key} (5s)" in str(refused.value)


def test_a_short_interval_brings_a_short_default_timeout(tmp_path):
    flags = {"healthcheck.interval": FlagValue("--interval", "50ms")}
    path = write(tmp_path / "c.toml", "[docker]\nrefresh_interval = 1\n")

    config = load_config(path, env={}, flags=flags)

    assert config.healthcheck.interval == 0.05
    assert config.healthcheck.timeout == 0.025
    assert config.docker.timeout == 0.5


@pytest.mark.parametrize(
    ("key", "raw", "fragment"),
    [
        ("runner.name", '"a"', "not a valid runner name"),
        ("runner.sandbox_class", '"vm"', "not one of container, linux-vm, windows"),
        ("lifecycle.on_stop", '"reboot"', "not one of none, cordon, drain"),
        ("lifecycle.register_on_start", '"maybe"', "not a boolean"),
        ("healthcheck.interval", "-1", "must be a positive duration"),
        ("local_api.listen", '"127.0.0.1:99999"', "not a port number"),
        ("healthcheck.jitter", "0.9", "between 0 and 0.5"),
    ],
)
def test_each_kind_of_bad_value_is_explained(tmp_path, key, raw, fragment):
    section, name = key.split(".")
    path = write(tmp_path / "c.toml", f"[{section}]\n{name} = {raw}\n")

    with pytest.raises(ConfigError, match=fragment):
        load_config(path, env={})


def test_a_missing_credential_error_is_a_configuration_error():
    assert issubclass(MissingCredentialError, ConfigError)
    assert MissingCredentialError("x").exit_code == 78


def test_listen_accepts_ipv6_and_can_be_turned_off():
    on = load_config(None, env={"RUNNER_AGENT_LISTEN": "[::1]:9000"})
    off = load_config(None, env={"RUNNER_AGENT_LISTEN": "off"})

    assert on.local_api.address == ("::1", 9000)
    assert on.local_api.listen == "[::1]:9000"
    assert off.local_api.address is None


def test_the_environment_of_this_process_is_the_default(monkeypatch):
    monkeypatch.setitem(os.environ, "DAYTONA_ORGANIZATION_ID", "org-1")

    assert load_config(None).organization_id == "org-1"


def test_a_key_file_of_more_than_one_line_is_refused_without_quoting_it(tmp_path):
    key_file = write(tmp_path / "key", "dtn_first_line_secret\r\nsecond\n")

    with pytest.raises(ConfigError) as refused:
        load_config(None, env={"DAYTONA_API_KEY_FILE": str(key_file)})

    assert refused.value.exit_code == 78
    assert "DAYTONA_API_KEY_FILE" in str(refused.value)
    assert "dtn_first_line_secret" not in str(refused.value)


def test_a_key_with_characters_a_header_cannot_carry_is_refused():
    with pytest.raises(ConfigError) as refused:
        load_config(None, env={"DAYTONA_RUNNER_TOKEN": "dtn_sécret_value"})

    assert "DAYTONA_RUNNER_TOKEN" in str(refused.value)
    assert "sécret" not in str(refused.value)


def test_a_relative_state_dir_is_refused():
    with pytest.raises(ConfigError) as refused:
        load_config(None, env={"RUNNER_AGENT_STATE_DIR": "state"})

    assert "absolute" in str(refused.value)
    assert "RUNNER_AGENT_STATE_DIR" in str(refused.value)


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_ca_bundle_that_cannot_be_loaded_is_refused_at_start(tmp_path, content):
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)

    with pytest.raises(ConfigError) as refused:
        load_config(None, env={"RUNNER_AGENT_CA_BUNDLE": str(bundle)})

    assert "cannot load the CA bundle" in str(refused.value)
    assert "env RUNNER_AGENT_CA_BUNDLE" in str(refused.value)


def test_a_missing_file_says_who_named_it(tmp_path):
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError) as refused:
        load_config(None, env={"RUNNER_AGENT_CONFIG": str(missing)})

    assert "RUNNER_AGENT_CONFIG" in str(refused.value)
    assert str(missing) in str(refused.value)
