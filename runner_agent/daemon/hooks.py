"""Operator commands run when the runner's state changes.

A hook runs in its own thread so a slow one never delays the daemon, with a
timeout after which its whole process group is killed. It gets the event in
``RUNNER_AGENT_*`` environment variables and never the agent's keys: the
key variables, and those saying where the keys are kept, are removed from
its environment.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping

import structlog

from runner_agent.config import HooksConfig
from runner_agent.credentials import redact
from runner_agent.subprocesses import command_environment, kill_group

log = structlog.get_logger(__name__)


def hook_environment(event: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without keys, plus the event."""
    env = command_environment()
    env["RUNNER_AGENT_EVENT"] = event
    for name, value in fields.items():
        env[f"RUNNER_AGENT_{name.upper()}"] = value
    return env


class Hooks:
    """Runs the configured hook commands in the background."""

    def __init__(self, config: HooksConfig) -> None:
        self.config = config
        self._threads: list[threading.Thread] = []

    def fire(self, event: str, fields: Mapping[str, str]) -> None:
        argv = {
            "state_changed": self.config.on_state_change,
            "decommissioned": self.config.on_decommissioned,
        }.get(event, ())
        if not argv:
            return
        thread = threading.Thread(
            target=self._run,
            args=(event, argv, hook_environment(event, fields)),
            name=f"hook-{event}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float) -> None:
        """Give running hooks up to ``timeout`` seconds to finish."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, event: str, argv: tuple[str, ...], env: dict[str, str]) -> None:
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            log.error(
                "hook_failed", hook_event=event, command=argv[0], error=str(error)
            )
            return
        try:
            _, stderr = process.communicate(timeout=self.config.timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            log.warning(
                "hook_timed_out",
                hook_event=event,
                command=argv[0],
                timeout_seconds=self.config.timeout,
            )
            return
        elapsed = round(time.monotonic() - started, 3)
        if process.returncode == 0:
            log.info("hook_ran", hook_event=event, command=argv[0], seconds=elapsed)
        else:
            log.warning(
                "hook_failed",
                hook_event=event,
                command=argv[0],
                exit_code=process.returncode,
                stderr=redact(stderr.decode(errors="replace").strip()[-500:]),
            )
