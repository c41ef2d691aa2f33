"""Failures told in a few safe words, for reports the control plane receives.

An ``errorReason`` (and a local report's ``error``) is one line of at most
200 characters with every known key masked: short enough for a dashboard,
never a leak.
"""

from __future__ import annotations

from runner_agent.credentials import redact
from runner_agent.errors import CollectionError

MAX_REASON = 200


def short_reason(error: BaseException | str) -> str:
    """One line, at most 200 characters, with known keys masked."""
    text = str(error) or type(error).__name__
    if isinstance(error, CollectionError) and error.collector:
        # Reports already say which collector; keep the words only.
        text = text.removeprefix(f"{error.collector}: ")
    line = redact(" ".join(text.split()))
    return line if len(line) <= MAX_REASON else f"{line[: MAX_REASON - 1]}…"


def os_reason(error: BaseException) -> str:
    """The operating system's words for what went wrong, when it gave any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__
