"""Periodic background work that a component asks the daemon to schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    """Run ``run`` every ``interval`` seconds, never overlapping itself.

    ``run_at_start`` runs it once right away so that its first result is
    ready before the first healthcheck needs it.
    """

    name: str
    interval: float
    run: Callable[[], None]
    run_at_start: bool = True
