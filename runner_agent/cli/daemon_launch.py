"""Start the daemon, with or without typer.

``runner-agent run`` stays up for months on every runner host, so what it
loads it pays for all that time. typer builds the whole command line to
parse seven options, and its modules and that build cost about 1.7 MB that
the daemon never uses again. So the entry point
(:mod:`runner_agent.cli.main`) first offers the arguments to
:func:`plain_run_options`: a plain ``run`` command line (known options, each
with a value) starts the daemon here, without typer. Anything else (help, a
flag this table does not know, a missing value) goes to typer, whose ``run``
command (:mod:`runner_agent.cli.daemon_cmd`) calls the same
:func:`start_daemon`, so both paths behave alike and usage errors stay
worded by typer alone. A test holds this table and typer's options for
``run`` equal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner_agent.cli.flags import flags

if TYPE_CHECKING:
    from runner_agent.config import Config

# Every option of ``run``, by flag, with the parameter it fills.
RUN_OPTIONS = {
    "--config": "config_path",
    "-c": "config_path",
    "--api-url": "api_url",
    "--state-dir": "state_dir",
    "--log-level": "log_level",
    "--interval": "interval",
    "--listen": "listen",
    "--region-id": "region_id",
}


def plain_run_options(args: Sequence[str]) -> dict[str, str] | None:
    """The options of a plain ``run`` command line, by parameter; else None.

    Plain means ``run`` followed only by options of :data:`RUN_OPTIONS`,
    each as ``--flag value`` or ``--flag=value`` (a short flag only in the
    first form), with a value that is not empty and does not start with a
    dash. As with typer, a flag given twice keeps its last value.
    """
    if not args or args[0] != "run":
        return None
    options: dict[str, str] = {}
    words = iter(args[1:])
    for word in words:
        flag, equals, value = word.partition("=")
        if not equals:
            value = next(words, "")
        elif not flag.startswith("--"):
            return None
        name = RUN_OPTIONS.get(flag)
        if name is None or not value or value.startswith("-"):
            return None
        options[name] = value
    return options


def start_daemon(
    *,
    config_path: str | Path | None = None,
    api_url: str | None = None,
    state_dir: str | Path | None = None,
    log_level: str | None = None,
    interval: str | None = None,
    listen: str | None = None,
    region_id: str | None = None,
) -> int:
    """Load the configuration, set up logging, run the daemon; its exit code.

    A bad flag or file raises :class:`~runner_agent.errors.ConfigError`
    before anything starts. Flags hold on reload: SIGHUP rereads the file
    and the environment only.
    """
    leave_out_unused_libraries()
    from runner_agent import logs
    from runner_agent.config import load_config
    from runner_agent.daemon import Daemon

    overrides = flags(
        api_url=("--api-url", api_url),
        state_dir=("--state-dir", state_dir),
        log_level=("--log-level", log_level),
        healthcheck__interval=("--interval", interval),
        local_api__listen=("--listen", listen),
        runner__region_id=("--region-id", region_id),
    )

    def reload() -> Config:
        return load_config(config_path, flags=overrides)

    config = reload()
    logs.configure_logging(config.log_level, config.log_format)
    return Daemon(config, reload_config=reload).run()


def leave_out_unused_libraries() -> None:
    """Keep rich, pygments and click out of the daemon's memory.

    httpx imports its own command line (click and rich), and structlog its
    pretty tracebacks (rich), whenever they are installed: rich comes with
    the command line's help, click with the MCP extra. The daemon uses none
    of them (typer, when it parses the command line, carries its own copy
    of click), and on every runner host they would cost several megabytes
    for as long as it runs. Both libraries treat a failed import as "not
    installed".
    """
    for name in ("rich", "pygments", "click"):
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
