"""Keys the agent holds, and how they stay out of sight.

A :class:`Secret` wraps a key so that printing, logging or formatting it
shows a mask; only :meth:`Secret.reveal` gives the value, and only the HTTP
client calls it. Every secret made here is also registered with
:func:`known_secrets` so the log processor can mask it wherever it would
appear, even inside a message that was not meant to carry it.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

Role = Literal["organization", "runner", "proxy"]

_registry_lock = threading.Lock()
_registry: set[str] = set()

# Shorter values are too weak to be keys and too common to mask safely in
# free text (masking "ab" everywhere would garble logs).
_MIN_MASKABLE = 6


def mask(value: str) -> str:
    """Return ``value`` with all but its last four characters hidden."""
    if len(value) < 16:
        return "****"
    return f"****{value[-4:]}"


def known_secrets() -> frozenset[str]:
    """Every secret value this process has loaded so far."""
    with _registry_lock:
        return frozenset(_registry)


def register_secret(value: str) -> None:
    """Remember ``value`` so log output masks it wherever it appears."""
    if len(value) >= _MIN_MASKABLE:
        with _registry_lock:
            _registry.add(value)


def redact(text: str) -> str:
    """Replace every known secret inside ``text`` by its mask."""
    for value in known_secrets():
        if value in text:
            text = text.replace(value, mask(value))
    return text


def scrub(document: Any) -> Any:
    """``document`` with every known key masked wherever a string holds it."""
    if isinstance(document, str):
        return redact(document)
    if isinstance(document, dict):
        return {key: scrub(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [scrub(item) for item in document]
    return document


def bearer_matches(authorization: str, token: Secret) -> bool:
    """Whether an ``Authorization`` header carries ``token`` as a bearer.

    The comparison takes the same time whatever the header holds.
    """
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.reveal().encode()
    )


class Secret:
    """A key whose value is only given out on purpose."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The real value: for the Authorization header, and nothing else."""
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Credentials:
    """The keys of the three roles the runners API knows.

    ``organization`` creates, lists and changes runners; ``runner`` is the
    runner's own key, for its healthchecks and ``/runners/me``; ``proxy`` is
    the control plane's proxy or SSH-gateway key, for three look-ups.
    """

    organization: Secret | None = None
    runner: Secret | None = None
    proxy: Secret | None = None

    def with_runner(self, token: Secret | None) -> Credentials:
        """The same keys with ``token`` as the runner's."""
        return replace(self, runner=token)

    def for_role(self, role: Role) -> Secret | None:
        return {
            "organization": self.organization,
            "runner": self.runner,
            "proxy": self.proxy,
        }[role]
