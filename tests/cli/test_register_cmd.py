"""``runner-agent register`` through the real command line."""

from __future__ import annotations

import json


def test_register_then_again_changes_nothing(cli, agent_env, emulator, state_dir):
    args = ("register", "--region-id", emulator.region_id, "--name", "host-7")

    first = cli(*args, "--json", env=agent_env)
    second = cli(*args, env=agent_env)

    created = json.loads(first.stdout)
    token = json.loads((state_dir / "identity.json").read_text())["runnerToken"]
    assert first.returncode == 0
    assert second.returncode == 0
    assert created["created"] is True
    assert created["identity"]["name"] == "host-7"
    assert "nothing changed" in second.stdout
    assert token not in first.stdout + second.stdout + first.stderr + second.stderr


def test_register_without_the_organization_key_names_where_to_set_it(
    cli, agent_env, emulator
):
    env = {k: v for k, v in agent_env.items() if k != "DAYTONA_API_KEY"}

    result = cli("register", "--region-id", emulator.region_id, env=env)

    assert result.returncode == 78
    assert "DAYTONA_API_KEY" in result.stderr
    assert "api_key_file" in result.stderr


def test_register_with_a_bad_name_flag_exits_78_naming_the_flag(cli, agent_env):
    result = cli("register", "--region-id", "eu", "--name", "bad name", env=agent_env)

    assert result.returncode == 78
    assert "runner.name (from flag --name)" in result.stderr


def test_register_against_an_unreachable_control_plane_exits_3(cli, agent_env):
    env = {**agent_env, "DAYTONA_API_URL": "http://127.0.0.1:9/api"}

    result = cli("register", "--region-id", "eu", env=env)

    assert result.returncode == 3
    assert "cannot reach" in result.stderr
