"""config.example.toml: valid, made of known keys, and showing the defaults."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from runner_agent.config import load_config
from runner_agent.config.checks import CheckConfig
from runner_agent.config.schema import KNOWN_KEYS, SECRET_KEYS

EXAMPLE = "config.example.toml"
_KEY_LINE = re.compile(r"^#?\s*([a-z_]+)\s*=")
_SECTION_LINE = re.compile(r"^\[([a-z_]+)\]")


@pytest.fixture
def example(repo: Path) -> Path:
    return repo / EXAMPLE


def _documented_keys(text: str) -> set[str]:
    """Every key shown, set or commented out, as dotted names."""
    keys, section = set(), ""
    for line in text.splitlines():
        if match := _SECTION_LINE.match(line):
            section = match.group(1)
        elif match := _KEY_LINE.match(line):
            name = match.group(1)
            keys.add(f"{section}.{name}" if section else name)
    return keys


def test_config_example_is_valid_toml(example):
    with example.open("rb") as stream:
        document = tomllib.load(stream)

    assert document["api_url"] == "https://app.daytona.io/api"


def test_config_example_loads_with_the_agent(example):
    config = load_config(example, env={})

    assert config.path == example


def test_config_example_values_are_the_defaults(example, tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")

    shown = load_config(example, env={})
    defaults = load_config(empty, env={})

    assert dataclasses.replace(shown, path=None) == dataclasses.replace(
        defaults, path=None
    )


def test_config_example_sets_no_secret(example):
    with example.open("rb") as stream:
        document = tomllib.load(stream)

    assert not SECRET_KEYS & set(document)


def test_config_example_documents_every_key(example):
    documented = _documented_keys(example.read_text())

    missing = sorted(KNOWN_KEYS - documented)
    assert missing == [], f"{EXAMPLE} lacks keys the agent knows: {missing}"


def test_config_check_command_accepts_the_example(example, tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAYTONA_", "RUNNER_AGENT_", "CREDENTIALS_"))
    }
    command = ["config", "check", "--config", str(example)]

    result = subprocess.run(
        [sys.executable, "-m", "runner_agent", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_the_commented_check_shows_the_defaults(example, tmp_path):
    """The first [[checks]] example, uncommented, shows each default it sets."""
    lines = example.read_text().splitlines()
    start = lines.index("# [[checks]]")
    block = []
    for line in lines[start:]:
        if line.strip() == "#":
            break
        block.append(line.removeprefix("# "))
    uncommented = tmp_path / "check.toml"
    uncommented.write_text("\n".join(block) + "\n")

    (check,) = load_config(uncommented, env={}).checks
    shown = tomllib.loads(uncommented.read_text())["checks"][0]

    what_it_probes = {"name", "url", "address", "command"}
    defaults = {
        field.name: field.default
        for field in dataclasses.fields(CheckConfig)
        if field.name in shown.keys() - what_it_probes
    }
    assert set(defaults) >= {"timeout", "failures_before_unhealthy", "local_only"}
    assert {name: getattr(check, name) for name in defaults} == defaults
