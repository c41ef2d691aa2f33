"""A bug's traceback reaches standard error with every key masked."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.conftest import base_env

KEY = "dtn_secret_key_0123456789abcdef"

# No command crashes on purpose, so the crash is staged: the probe makes
# the configuration step of `status` raise an error that quotes a key.
CRASH = f"""
from runner_agent.cli import main, this_runner
from runner_agent.credentials import Secret

Secret({KEY!r})

def broken(*args, **kwargs):
    raise RuntimeError("cannot use the key {KEY}")

this_runner.this_runner_config = broken
main.main(["status"])
"""


def test_an_unexpected_error_prints_its_traceback_with_keys_masked_and_exits_1():
    result = subprocess.run(
        [sys.executable, "-c", CRASH],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: cannot use the key" in result.stderr
    assert KEY not in result.stderr
    assert f"****{KEY[-4:]}" in result.stderr
