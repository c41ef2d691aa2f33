"""The entry point of ``runner-agent``, and its one exit.

Every error the agent raises on purpose reaches the user here: one line on
standard error and the documented exit code. Anything else is a bug: its
traceback is printed (keys masked) and the exit code is 1.

A plain ``runner-agent run`` starts the daemon without loading typer (see
:mod:`runner_agent.cli.daemon_launch`); everything else goes through the
typer app of :mod:`runner_agent.cli.app`.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from runner_agent.cli.daemon_launch import plain_run_options, start_daemon
from runner_agent.errors import EXIT_FAILED, EXIT_USAGE, RunnerAgentError

# Set by the shell when it asks typer for completions.
_COMPLETION_VARIABLE = "_RUNNER_AGENT_COMPLETE"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m runner_agent``."""
    args = sys.argv[1:] if argv is None else list(argv)
    options = None
    if _COMPLETION_VARIABLE not in os.environ:
        options = plain_run_options(args)
    if options is not None:
        sys.exit(_reported(lambda: start_daemon(**options)))
    sys.exit(_reported(lambda: _run_app(args)))


def _reported(command: Callable[[], int]) -> int:
    """Run ``command``; report what it raises as one line and an exit code."""
    try:
        return command()
    except RunnerAgentError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception:  # noqa: BLE001 - the one boundary; the traceback is kept
        # A bug: the traceback is what a report needs, but it may quote a key.
        from runner_agent.credentials import redact

        sys.stderr.write(redact(traceback.format_exc()))
        sys.exit(EXIT_FAILED)


def _run_app(args: list[str]) -> int:
    """Parse ``args`` with typer and run the command; its exit code."""
    import typer
    from typer.exceptions import TyperException

    from runner_agent.cli.app import app

    try:
        code = app(args=args, prog_name="runner-agent", standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except TyperException as error:
        # typer carries its own copy of click: usage errors arrive as these.
        code = getattr(error, "exit_code", EXIT_USAGE)
        line = _usage_line(error)
        if line is None:
            return int(code)
        _fail(line, code, prefix="")
    return code if isinstance(code, int) else 0


def _usage_line(error: Exception) -> str | None:
    """One line: what was wrong with the command line, and where to look.

    None when there is nothing to add: a group given no command has printed
    its help already, and its error carries no message of its own.
    """
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    if not message.strip():
        return None
    context = getattr(error, "ctx", None)
    command = getattr(context, "command_path", "") or "runner-agent"
    return f"{command}: {message} (see {command} --help)"


def _fail(message: str, code: int, *, prefix: str = "runner-agent: ") -> NoReturn:
    from runner_agent.credentials import redact

    sys.stderr.write(f"{prefix}{redact(message)}\n")
    sys.exit(code)
