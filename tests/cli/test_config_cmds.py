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


def test_config_show_names_the_flag_a_value_came_from(cli, tmp_path):
    from tests.cli.conftest import base_env

    path = tmp_path / "c.toml"
    path.write_text('api_url = "https://file.example/api"\n')
    env = base_env(DAYTONA_API_URL="https://env.example/api")
    given = (
        "--api-url",
        "https://flag.example/api",
        "--state-dir",
        str(tmp_path / "state"),
        "--log-level",
        "debug",
        "--region-id",
        "eu",
        "--tag",
        "gpu",
        "--tag",
        "spot",
    )

    as_json = cli("config", "show", "--json", "--config", str(path), *given, env=env)
    as_text = cli("config", "show", "--config", str(path), *given, env=env)

    values = json.loads(as_json.stdout)["values"]
    assert (as_json.returncode, as_text.returncode) == (0, 0)
    assert values["api_url"] == {
        "value": "https://flag.example/api",
        "origin": "flag --api-url",
    }
    assert values["state_dir"]["origin"] == "flag --state-dir"
    assert values["log_level"] == {"value": "debug", "origin": "flag --log-level"}
    assert values["runner.region_id"] == {"value": "eu", "origin": "flag --region-id"}
    assert values["runner.tags"] == {"value": ["gpu", "spot"], "origin": "flag --tag"}
    assert "flag --api-url" in as_text.stdout


def test_config_check_json_prints_the_result_with_the_same_exit_codes(cli, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[healthcheck]\ninterval = "5s"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[lifecycle]\non_stop = "reboot"\n')

    valid = cli("config", "check", "--json", "--config", str(good))
    refused = cli("config", "check", "--json", "--config", str(bad))
    bad_flag = cli(
        "config", "check", "--json", "--config", str(good), "--sandbox-class", "vm"
    )

    refusal = json.loads(refused.stdout)
    assert valid.returncode == 0
    assert json.loads(valid.stdout) == {"ok": True, "file": str(good)}
    assert refused.returncode == 78
    assert refusal["ok"] is False
    assert (refusal["key"], refusal["origin"]) == ("lifecycle.on_stop", str(bad))
    assert refusal["exitCode"] == 78
    assert "'reboot' is not one of" in refusal["error"]
    assert refused.stderr.count("\n") == 1
    assert bad_flag.returncode == 78
    assert json.loads(bad_flag.stdout)["origin"] == "flag --sandbox-class"
