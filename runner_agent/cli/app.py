"""The ``runner-agent`` command line: the app, its commands, its one exit.

Every error the agent raises on purpose reaches the user here, in
:func:`main`: one line on standard error and the documented exit code.
Anything else is a bug: its traceback is printed (keys masked) and the
exit code is 1.
"""

from __future__ import annotations

import sys
import traceback

import typer

from runner_agent.cli import (
    config_cmds,
    daemon_cmd,
    demo_cmd,
    doctor,
    emulator_cmd,
    fleet,
    fleet_watch,
    lifecycle_cmds,
    mcp_cmd,
    metrics_cmd,
    register_cmd,
    this_runner,
)

app = typer.Typer(
    name="runner-agent",
    help="Health, metrics and lifecycle agent of a self-hosted Daytona runner.\n\n"
    "Example: runner-agent register --region-id 0b9e... && runner-agent status",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run")(daemon_cmd.run)
app.command("register")(register_cmd.register)
app.command("deregister")(lifecycle_cmds.deregister)
app.command("status")(this_runner.status)
app.command("cordon")(lifecycle_cmds.cordon)
app.command("uncordon")(lifecycle_cmds.uncordon)
app.command("drain")(lifecycle_cmds.drain)
app.command("undrain")(lifecycle_cmds.undrain)
app.command("healthcheck")(this_runner.healthcheck)
app.command("metrics")(metrics_cmd.metrics)
app.command("mcp")(mcp_cmd.mcp)
app.command("emulator")(emulator_cmd.emulator)
app.command("demo")(demo_cmd.demo)
app.add_typer(config_cmds.app, name="config")
# The watch lives in a module of its own, which builds on the fleet's views.
fleet.app.command("watch")(fleet_watch.watch)
app.add_typer(fleet.app, name="runners")
app.command("doctor")(doctor.doctor)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m runner_agent``."""
    from typer.exceptions import TyperException

    from runner_agent.errors import EXIT_FAILED, EXIT_USAGE, RunnerAgentError

    try:
        code = app(args=argv, prog_name="runner-agent", standalone_mode=False)
    except RunnerAgentError as error:
        _fail(str(error), error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except TyperException as error:
        # typer carries its own copy of click: usage errors arrive as these.
        code = getattr(error, "exit_code", EXIT_USAGE)
        line = _usage_line(error)
        if line is None:
            sys.exit(code)
        _fail(line, code, prefix="")
    except Exception:  # noqa: BLE001 - the one boundary; the traceback is kept
        # A bug: the traceback is what a report needs, but it may quote a key.
        from runner_agent.credentials import redact

        sys.stderr.write(redact(traceback.format_exc()))
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


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


def _fail(message: str, code: int, *, prefix: str = "runner-agent: ") -> None:
    from runner_agent.credentials import redact

    sys.stderr.write(f"{prefix}{redact(message)}\n")
    sys.exit(code)
