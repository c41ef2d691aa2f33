"""``config check`` and ``config show``."""

from __future__ import annotations

import json


def test_config_check_accepts_a_valid_file(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[healthcheck]\ninterval = "5s"\n')

    result = cli("config", "check", "--config", str(path))

    assert result.returncode == 0
    assert "valid" in result.stdout


def test_config_check_refuses_a_bad_value_with_one_line_and_exit_78(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[lifecycle]\non_stop = "reboot"\n')

    result = cli("config", "check", "--config", str(path))

    assert result.returncode == 78
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"lifecycle.on_stop (from {path})" in result.stderr


def test_config_show_masks_keys_and_names_each_origin(cli, tmp_path):
    from tests.cli.conftest import base_env

    path = tmp_path / "c.toml"
    path.write_text('[runner]\nregion_id = "eu"\n')
    key = "dtn_organization_key_for_show_0001"
    env = base_env(DAYTONA_API_KEY=key, DAYTONA_API_URL="https://cp.example/api")

    result = cli("config", "show", "--json", "--config", str(path), env=env)

    values = json.loads(result.stdout)["values"]
    assert result.returncode == 0
    assert key not in result.stdout
    assert values["api_key"] == {"value": "****0001", "origin": "env DAYTONA_API_KEY"}
    assert values["api_url"]["origin"] == "env DAYTONA_API_URL"
    assert values["runner.region_id"] == {"value": "eu", "origin": str(path)}
    assert values["healthcheck.interval"] == {"value": 10.0, "origin": "default"}
