"""Running one check of each kind, within its timeout, to a pass or a reason.

* http: a GET that must answer the expected status (redirects are not
  followed: a 301 is a 301). Only the status line and headers are read: the
  body is never waited for, so a service sending it slowly cannot stretch
  the check, and an answer completed after the timeout counts as a timeout.
* tcp: a connection that must be accepted. A name is looked up within the
  timeout too, and the connection gets what is left of it.
* command: a process that must exit 0. It runs in its own session without
  the agent's keys in its environment, and on timeout its whole process
  group is killed.

A failure is described in a few words (``HTTP 503, expected 200``, ``timed
out after 5s``, ``exit status 1: disk full``); the URL is left out of it, so
nothing in it can leak through ``errorReason``.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

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
    started = time.monotonic()
    try:
        # httpx bounds each read, not the whole exchange: reading a body
        # sent a byte at a time would run far past the timeout. The status
        # decides, so the answer is abandoned as soon as it is known.
        with http.stream("GET", check.url, timeout=check.timeout) as response:
            status = response.status_code
    except httpx.TimeoutException:
        return _timed_out(check)
    except httpx.HTTPError as error:
        return os_reason(error)
    if time.monotonic() - started > check.timeout:
        return _timed_out(check)
    if status != check.expected_status:
        return f"HTTP {status}, expected {check.expected_status}"
    return None


def _tcp(check: CheckConfig) -> str | None:
    assert check.address is not None
    host, port = check.address
    deadline = time.monotonic() + check.timeout
    try:
        addresses = _resolve(host, port, check.timeout)
    except TimeoutError:
        return f"cannot resolve {host} within {check.timeout:g}s"
    except (OSError, UnicodeError) as error:
        return f"cannot resolve {host}: {os_reason(error)}"
    failure: OSError | None = None
    for family, kind, proto, _, address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            return _timed_out(check)
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(left)
                sock.connect(address)
            return None
        except TimeoutError:
            return _timed_out(check)
        except OSError as error:
            # The next address (IPv4 after IPv6, say) may still answer.
            failure = error
    return os_reason(failure) if failure else f"{host} has no address"


def _resolve(host: str, port: int, timeout: float) -> list[Any]:
    """``getaddrinfo`` for a TCP connection, given up on after ``timeout``.

    The C call has no timeout of its own, so a name is looked up on a
    helper thread that is left to finish alone if the resolver hangs (it
    gives up after its own attempts). An IP address needs no lookup.
    """
    if _is_ip(host):
        flags = socket.AI_NUMERICHOST
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    answer: Future[list[Any]] = Future()

    def look_up() -> None:
        try:
            answer.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            answer.set_exception(error)

    threading.Thread(target=look_up, name="check-lookup", daemon=True).start()
    return answer.result(timeout)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _timed_out(check: CheckConfig) -> str:
    return f"timed out after {check.timeout:g}s"


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
        return f"{_timed_out(check)} (killed)"
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
