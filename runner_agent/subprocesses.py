"""Operator commands (checks and hooks): their environment and their end.

Such a command runs in its own session, so its process group holds every
process it starts that does not leave the group. It never learns the
agent's keys, nor where they could be read from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

WITHHELD_ENV = (
    "DAYTONA_API_KEY",
    "DAYTONA_RUNNER_TOKEN",
    "DAYTONA_PROXY_API_KEY",
    "DAYTONA_API_KEY_FILE",
    "DAYTONA_RUNNER_TOKEN_FILE",
    "DAYTONA_PROXY_API_KEY_FILE",
    "CREDENTIALS_DIRECTORY",
)
REAP_TIMEOUT = 1.0


def command_environment() -> dict[str, str]:
    """The agent's environment without the keys and their locations."""
    return {k: v for k, v in os.environ.items() if k not in WITHHELD_ENV}


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command's process group and reap the command.

    Waits at most :data:`REAP_TIMEOUT` for the output pipes to close: a
    process that left the group may hold them open for ever.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
