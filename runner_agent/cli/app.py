"""The ``runner-agent`` command line as typer builds it: the app and its commands.

The entry point, which reports errors and starts a plain ``run`` without
loading this module, is :mod:`runner_agent.cli.main`.
"""

from __future__ import annotations

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
