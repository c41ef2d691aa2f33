"""Configuration overrides from command-line flags.

Kept apart from the typer options in :mod:`runner_agent.cli.common` so that
the daemon's own launcher (:mod:`runner_agent.cli.daemon_launch`) can use it
without loading typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner_agent.config import FlagValue


def flags(**values: tuple[str, Any]) -> dict[str, FlagValue]:
    """Configuration overrides from flags that were given (not None).

    Each keyword is a configuration key (``__`` for its dots) paired with
    the flag that carried the value. A path is passed on as its text.
    """
    from runner_agent.config import FlagValue

    return {
        key.replace("__", "."): FlagValue(
            flag, str(value) if isinstance(value, Path) else value
        )
        for key, (flag, value) in values.items()
        if value is not None and value != ()
    }
