"""The ``runner-agent`` command line: the app, its commands, its one exit.

Every error the agent raises on purpose reaches the user here, in
:func:`main`: one line on standard error and the documented exit code.
Anything else is a bug: its traceback is printed (keys masked) and the
exit code is 1.
"""

from __future__ import annotations

import sys

import typer

from runner_agent.cli import (
    config_cmds,
    daemon_cmd,
    demo_cmd,
    emulator_cmd,
    metrics_cmd,
    register_cmd,
    this_runner,
)

app = typer.Typer(
    name="runner-agent",
    help="Health, metrics and lifecycle agent of a self-hosted Daytona runner.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run")(daemon_cmd.run)
app.command("register")(register_cmd.register)
app.command("status")(this_runner.status)
app.command("healthcheck")(this_runner.healthcheck)
app.command("metrics")(metrics_cmd.metrics)
app.command("emulator")(emulator_cmd.emulator)
app.command("demo")(demo_cmd.demo)
app.add_typer(config_cmds.app, name="config")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m runner_agent``."""
    import click

    from runner_agent.errors import EXIT_USAGE, RunnerAgentError

    try:
        code = app(args=argv, prog_name="runner-agent", standalone_mode=False)
    except RunnerAgentError as error:
        _fail(str(error), error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    from runner_agent.credentials import redact

    sys.stderr.write(f"runner-agent: {redact(message)}\n")
    sys.exit(code)
