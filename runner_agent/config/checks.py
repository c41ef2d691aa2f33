"""``[[checks]]``: the operator's own service checks, parsed and validated.

Each table becomes a frozen :class:`CheckConfig`. The kind follows from the
target given (``url`` for http, ``address`` for tcp, ``command`` for a
command); ``kind`` may be written too, and must then agree. A bad value is
reported under its own key, such as ``checks[2].url``, with the check's name.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runner_agent.config import values

CheckKind = Literal["http", "tcp", "command"]

RESERVED_NAMES = frozenset({"docker"})
_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
_TARGETS: dict[str, CheckKind] = {"url": "http", "address": "tcp", "command": "command"}
_MAX_THRESHOLD = 100
# A check probes the URL exactly as written, trailing slash included.
_url = functools.partial(values.http_url, strip_slash=False)


class CheckValueError(ValueError):
    """A bad value inside ``[[checks]]``; ``key`` names the check and field."""

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class CheckConfig:
    """One service check: what to probe, how often, and how to damp it."""

    name: str
    kind: CheckKind
    url: str = ""
    expected_status: int = 200
    address: tuple[str, int] | None = None
    command: tuple[str, ...] = ()
    timeout: float = 5.0
    interval: float = 10.0
    failures_before_unhealthy: int = 1
    successes_before_healthy: int = 1
    local_only: bool = False

    @property
    def target(self) -> str:
        """What the check probes, for display."""
        if self.kind == "http":
            return self.url
        if self.kind == "tcp" and self.address is not None:
            return values.host_port(*self.address)
        return shlex.join(self.command)

    def __str__(self) -> str:
        scope = ", local only" if self.local_only else ""
        return f"{self.name}: {self.kind} {self.target} every {self.interval:g}s{scope}"


def parse_checks(raw: Any) -> tuple[CheckConfig, ...]:
    """The ``checks`` key: a TOML array of tables."""
    if not isinstance(raw, list):
        raise ValueError("must be an array of tables, written as [[checks]]")
    checks = tuple(_parse_one(index, item) for index, item in enumerate(raw))
    _refuse_duplicates(checks)
    return checks


def _parse_one(index: int, raw: Any) -> CheckConfig:
    where = f"checks[{index}]"
    if not isinstance(raw, dict):
        raise CheckValueError("must be a table", key=where)
    _refuse_unknown_fields(where, raw)
    if "name" not in raw:
        raise CheckValueError("every check needs a name", key=f"{where}.name")
    name = _field(where, raw, "name", "", _name)
    label = f" (check {name!r})"
    kind = _kind(where, raw, label)
    fields: dict[str, Any] = {
        "timeout": _field(where, raw, "timeout", 5.0, values.duration, label),
        "interval": _field(where, raw, "interval", 10.0, values.duration, label),
        "failures_before_unhealthy": _field(
            where, raw, "failures_before_unhealthy", 1, _threshold, label
        ),
        "successes_before_healthy": _field(
            where, raw, "successes_before_healthy", 1, _threshold, label
        ),
        "local_only": _field(where, raw, "local_only", False, values.boolean, label),
        **_target_fields(where, raw, kind, label),
    }
    try:
        fields["timeout"] = values.fit_timeout(
            fields["timeout"],
            fields["interval"],
            configured="timeout" in raw,
            interval_name="the interval",
        )
    except ValueError as error:
        raise CheckValueError(f"{error}{label}", key=f"{where}.timeout") from None
    return CheckConfig(name=name, kind=kind, **fields)


def _refuse_unknown_fields(where: str, raw: Mapping[str, Any]) -> None:
    known = [field.name for field in CheckConfig.__dataclass_fields__.values()]
    for field in raw:
        if field not in known:
            raise CheckValueError(
                values.unknown_key(field, known), key=f"{where}.{field}"
            )


def _field(
    where: str,
    raw: Mapping[str, Any],
    field: str,
    default: Any,
    parse: Callable[[Any], Any],
    label: str = "",
) -> Any:
    if field not in raw:
        return default
    try:
        return parse(raw[field])
    except ValueError as error:
        raise CheckValueError(f"{error}{label}", key=f"{where}.{field}") from None


def _kind(where: str, raw: Mapping[str, Any], label: str) -> CheckKind:
    given = [field for field in _TARGETS if field in raw]
    if len(given) != 1:
        raise CheckValueError(
            f"give exactly one of url (http), address (tcp) or command{label}",
            key=where,
        )
    kind = _TARGETS[given[0]]
    if "kind" in raw and raw["kind"] != kind:
        raise CheckValueError(
            f"{raw['kind']!r} does not match the {given[0]} given (a {kind} check)"
            f"{label}",
            key=f"{where}.kind",
        )
    return kind


def _target_fields(
    where: str, raw: Mapping[str, Any], kind: CheckKind, label: str
) -> dict[str, Any]:
    if kind == "http":
        return {
            "url": _field(where, raw, "url", "", _url, label),
            "expected_status": _field(
                where, raw, "expected_status", 200, _status, label
            ),
        }
    if "expected_status" in raw:
        raise CheckValueError(
            f"only http checks have an expected status{label}",
            key=f"{where}.expected_status",
        )
    if kind == "tcp":
        return {"address": _field(where, raw, "address", None, _address, label)}
    return {"command": _field(where, raw, "command", (), _command, label)}


def _refuse_duplicates(checks: tuple[CheckConfig, ...]) -> None:
    seen: set[str] = set()
    for index, check in enumerate(checks):
        if check.name in seen:
            raise CheckValueError(
                f"{check.name!r} names another check too; names must be unique",
                key=f"checks[{index}].name",
            )
        seen.add(check.name)


def _name(raw: Any) -> str:
    name = values.text(raw)
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} is not a check name (1 to 64 letters, digits, '_', '.', '-')"
        )
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved for the agent's own service")
    return name


def _status(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 100 <= raw <= 599:
        raise ValueError(f"{raw!r} is not an HTTP status (100 to 599)")
    return raw


def _threshold(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"{raw!r} is not a whole number")
    if not 1 <= raw <= _MAX_THRESHOLD:
        raise ValueError(f"{raw} must be from 1 to {_MAX_THRESHOLD}")
    return raw


def _address(raw: Any) -> tuple[str, int]:
    text = values.text(raw)
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port (for example 127.0.0.1:6379)")
    number = values.port(port)
    if number == 0:
        raise ValueError(f"{text!r}: port 0 cannot be probed")
    return host, number


def _command(raw: Any) -> tuple[str, ...]:
    argv = values.command(raw)
    if not argv:
        raise ValueError("the command is empty")
    return argv
