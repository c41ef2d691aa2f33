"""Running one check of each kind, within its timeout, to a pass or a reason.

* http: a GET that must answer the expected status (redirects are not
  followed: a 301 is a 301).
* tcp: a connection that must be accepted.
* command: a process that must exit 0. It runs in its own session without
  the agent's keys in its environment, and on timeout its whole process
  group is killed.

A failure is described in a few words (``HTTP 503, expected 200``, ``timed
out after 5s``, ``exit status 1: disk full``); the URL is left out of it, so
nothing in it can leak through ``errorReason``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import httpx

from runner_agent.config.checks import CheckConfig
from runner_agent.reasons import os_reason, short_reason
from runner_agent.subprocesses import command_environment, kill_group


@dataclass(frozen=True)
class Outcome:
    """The result of one run of a check."""

    ok: bool
    reason: str = ""
    duration_ms: float = 0.0


def run_check(check: CheckConfig, http: httpx.Client) -> Outcome:
    """Run ``check`` once; never raises."""
    started = time.perf_counter()
    if check.kind == "http":
        reason = _http(check, http)
    elif check.kind == "tcp":
        reason = _tcp(check)
    else:
        reason = _command(check)
    duration_ms = (time.perf_counter() - started) * 1000
    if reason is None:
        return Outcome(ok=True, duration_ms=duration_ms)
    return Outcome(ok=False, reason=short_reason(reason), duration_ms=duration_ms)


def _http(check: CheckConfig, http: httpx.Client) -> str | None:
    try:
        response = http.get(check.url, timeout=check.timeout)
    except httpx.TimeoutException:
        return f"timed out after {check.timeout:g}s"
    except httpx.HTTPError as error:
        return os_reason(error)
    if response.status_code != check.expected_status:
        return f"HTTP {response.status_code}, expected {check.expected_status}"
    return None


def _tcp(check: CheckConfig) -> str | None:
    assert check.address is not None
    try:
        with socket.create_connection(check.address, timeout=check.timeout):
            return None
    except TimeoutError:
        return f"timed out after {check.timeout:g}s"
    except socket.gaierror as error:
        return f"cannot resolve {check.address[0]}: {os_reason(error)}"
    except OSError as error:
        return os_reason(error)


def _command(check: CheckConfig) -> str | None:
    try:
        process = subprocess.Popen(
            check.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=command_environment(),
            start_new_session=True,
        )
    except OSError as error:
        return f"cannot run {check.command[0]}: {os_reason(error)}"
    try:
        output, _ = process.communicate(timeout=check.timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        return f"timed out after {check.timeout:g}s (killed)"
    if process.returncode == 0:
        return None
    lines = [line for line in output.decode(errors="replace").splitlines() if line]
    status = _exit_status(process.returncode)
    return f"{status}: {lines[-1].strip()}" if lines else status


def _exit_status(returncode: int) -> str:
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
