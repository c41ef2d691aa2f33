"""Options and helpers shared by the commands.

Each command takes the options it needs from here, turns the ones that are
configuration into :class:`~runner_agent.config.FlagValue` entries (so a
bad flag is reported as a flag) and loads the configuration through
:func:`load`. Only typer and the standard library are imported at module
level: ``--help`` must not pay for the HTTP client or a server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner_agent.cli.flags import flags

if TYPE_CHECKING:
    from runner_agent.config import Config, FlagValue
    from runner_agent.context import AgentContext

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file (env RUNNER_AGENT_CONFIG; "
        "default /etc/runner-agent/config.toml).",
        show_default=False,
    ),
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Control plane API URL (env DAYTONA_API_URL).",
        show_default=False,
    ),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the runner identity is kept (default /var/lib/runner-agent).",
        show_default=False,
    ),
]
LogLevel = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        help="debug, info, warning or error (env RUNNER_AGENT_LOG_LEVEL).",
        show_default=False,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of text.")
]
ShowSecrets = Annotated[
    bool,
    typer.Option(
        "--show-secrets", help="Print keys unmasked (they are masked otherwise)."
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

# The [runner] keys, as register takes them.
RegionIdOption = Annotated[
    str | None,
    typer.Option(
        "--region-id", help="Region to create the runner in.", show_default=False
    ),
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name", help="Runner name (default: the host name).", show_default=False
    ),
]
TagOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag", help="A tag for the runner (repeatable).", show_default=False
    ),
]
SandboxClassOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox-class", help="container, linux-vm or windows.", show_default=False
    ),
]
DomainOption = Annotated[
    str | None,
    typer.Option(
        "--domain", help="Domain reported in healthchecks.", show_default=False
    ),
]
RunnerApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--runner-api-url",
        help="The runner's API URL, reported in healthchecks.",
        show_default=False,
    ),
]
ProxyUrlOption = Annotated[
    str | None,
    typer.Option(
        "--proxy-url",
        help="The runner's proxy URL, reported in healthchecks.",
        show_default=False,
    ),
]


def config_flags(
    *,
    api_url: str | None = None,
    state_dir: Path | None = None,
    region_id: str | None = None,
    name: str | None = None,
    tag: list[str] | None = None,
    sandbox_class: str | None = None,
    domain: str | None = None,
    runner_api_url: str | None = None,
    proxy_url: str | None = None,
) -> dict[str, FlagValue]:
    """The overrides of the shared flags and the ``[runner]`` flags given."""
    return flags(
        api_url=("--api-url", api_url),
        state_dir=("--state-dir", state_dir),
        runner__region_id=("--region-id", region_id),
        runner__name=("--name", name),
        runner__tags=("--tag", list(tag) if tag else None),
        runner__sandbox_class=("--sandbox-class", sandbox_class),
        runner__domain=("--domain", domain),
        runner__api_url=("--runner-api-url", runner_api_url),
        runner__proxy_url=("--proxy-url", proxy_url),
    )


def duration_option(flag: str, value: str) -> float:
    """Seconds from a duration flag (``5``, ``500ms``, ``2s``, ``1m``).

    A bad value is a usage error naming the flag.
    """
    from runner_agent.config.values import duration
    from runner_agent.errors import UsageError

    try:
        return duration(value)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None


def load(
    config_path: Path | None,
    overrides: dict[str, FlagValue] | None = None,
    *,
    log_level: str | None = None,
    quiet: bool = True,
) -> Config:
    """Load the configuration and set up logging for a command.

    One-shot commands log warnings and errors only (``quiet``), unless a
    level is asked for; the daemon logs at its configured level.
    """
    from runner_agent import logs
    from runner_agent.config import load_config

    overrides = dict(overrides or {})
    if log_level is not None:
        overrides.update(flags(log_level=("--log-level", log_level)))
    config = load_config(config_path, flags=overrides)
    level = config.log_level
    if quiet and log_level is None and level in ("debug", "info"):
        level = "warning"
    logs.configure_logging(level, config.log_format)
    return config


def context(config: Config) -> AgentContext:
    from runner_agent.context import AgentContext

    return AgentContext(config)


def print_json(document: Any) -> None:
    """One JSON document on standard output."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def confirm(question: str, *, yes: bool) -> None:
    """Ask on a terminal; without one, refuse unless ``--yes`` was given."""
    refuse_without_terminal(question, yes=yes)
    if not yes and not typer.confirm(question, default=False):
        raise typer.Exit(1)


def refuse_without_terminal(question: str, *, yes: bool) -> None:
    """Refuse (exit 2) when :func:`confirm` could not ask and ``--yes`` is absent.

    Called before any request, it keeps that refusal from depending on
    the keys or the network.
    """
    from runner_agent.errors import UsageError

    if not yes and not sys.stdin.isatty():
        raise UsageError(
            f"{question.rstrip('?')}: refusing without a terminal; pass --yes"
        )


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned text table."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [
            max(width, len(cell)) for width, cell in zip(widths, row, strict=True)
        ]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def fields(pairs: list[tuple[str, Any]]) -> str:
    """Aligned ``label  value`` lines."""
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(
        f"{label.ljust(width)}  {'-' if value in (None, '') else value}"
        for label, value in pairs
    )
