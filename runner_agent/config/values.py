"""Parsers for configuration values.

Each parser takes a raw value as it came from TOML, the environment or a
flag (so a string may stand for a number or a boolean) and returns the typed
value, or raises :class:`ValueError` with a message that says what is wrong
and what would be right. The loader adds the key and the origin.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
RUNNER_NAME = re.compile(r"^[a-zA-Z0-9_.-]{2,255}$")
SANDBOX_CLASSES = ("container", "linux-vm", "windows")
LOG_LEVELS = ("debug", "info", "warning", "error")


def duration(raw: Any) -> float:
    """Seconds from a number or a string such as ``"500ms"``, ``"10s"``."""
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a duration")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and (match := _DURATION.match(raw)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(
            f"{raw!r} is not a duration (use seconds, or a string such as "
            '"500ms", "10s", "2m")'
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{raw!r} must be a positive duration")
    return seconds


def absolute_path(raw: Any) -> str:
    """A path that does not depend on the directory the agent starts in."""
    value = text(raw)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


def optional_absolute_path(raw: Any) -> str:
    """An absolute path, or empty."""
    value = text(raw)
    return absolute_path(value) if value else ""


def key_value(raw: str) -> str:
    """A key as it goes into an HTTP header: one word of printable ASCII.

    The message never quotes the value: it is a secret.
    """
    value = raw.strip()
    if not value:
        raise ValueError("is empty")
    if any(not "!" <= char <= "~" for char in value):
        raise ValueError(
            "is not one word of printable ASCII (a key file must hold the key "
            "alone, on one line)"
        )
    return value


def fit_timeout(
    timeout: float, interval: float, *, configured: bool, interval_name: str
) -> float:
    """A timeout that ends before the next run is due, or runs would pile up.

    A default timeout shrinks to half a short interval (tests beat every
    50 ms); a configured one that does not fit is refused.
    """
    if not configured:
        return min(timeout, interval / 2)
    if timeout >= interval:
        raise ValueError(
            f"{timeout:g}s must be shorter than {interval_name} ({interval:g}s)"
        )
    return timeout


def fraction(raw: Any) -> float:
    """A number from 0 to 1 (or a percentage string such as ``"10%"``)."""
    try:
        if isinstance(raw, str) and raw.strip().endswith("%"):
            value = float(raw.strip()[:-1]) / 100
        elif isinstance(raw, bool):
            raise ValueError
        else:
            value = float(raw)
    except ValueError:
        raise ValueError(f'{raw!r} is not a fraction (use 0.1 or "10%")') from None
    if not 0 <= value <= 0.5:
        raise ValueError(f"{raw!r} must be between 0 and 0.5 (50%)")
    return value


def command(raw: Any) -> tuple[str, ...]:
    """A command as a list of arguments, or a string split like a shell would."""
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as error:
            raise ValueError(f"{raw!r} is not a valid command: {error}") from None
    elif isinstance(raw, list) and all(isinstance(part, str) for part in raw):
        argv = list(raw)
    else:
        raise ValueError(f"{raw!r} is not a command (a string or a list of strings)")
    return tuple(argv)


def count(raw: Any) -> int:
    """A whole number from 1 to 10,000 (a window size, a number of samples)."""
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a whole number")
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if not 1 <= number <= 10_000:
        raise ValueError(f"{number} must be from 1 to 10000")
    return number


def label_filter(raw: Any) -> str:
    """A Docker label filter: ``key`` or ``key=value``, or empty for none."""
    value = text(raw)
    if any(char.isspace() for char in value) or value.startswith("="):
        raise ValueError(f"{value!r} is not a label filter (use key or key=value)")
    return value


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError(f"{raw!r} is not a boolean (use true or false)")


def text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a string")
    return raw.strip()


def choice(*allowed: str) -> Any:
    """A parser that accepts one of ``allowed`` (case-insensitive)."""

    def parse(raw: Any) -> str:
        value = text(raw).lower()
        if value not in allowed:
            raise ValueError(f"{raw!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def string_list(raw: Any) -> tuple[str, ...]:
    """A TOML list of strings, or a comma-separated string (env, flags)."""
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",")]
        return tuple(item for item in items if item)
    if isinstance(raw, list | tuple) and all(isinstance(i, str) for i in raw):
        return tuple(i.strip() for i in raw)
    raise ValueError(f"{raw!r} is not a list of strings")


def http_url(raw: Any, *, strip_slash: bool = True) -> str:
    """An absolute http(s) URL, without a trailing slash unless kept."""
    value = text(raw)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials in the URL")
    return value.rstrip("/") if strip_slash else value


def optional_http_url(raw: Any) -> str:
    return http_url(raw) if text(raw) else ""


def runner_name(raw: Any) -> str:
    value = text(raw)
    if value and not RUNNER_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid runner name (2 to 255 characters "
            "among letters, digits, '_', '.' and '-')"
        )
    return value


def region_id(raw: Any) -> str:
    value = text(raw)
    if any(char.isspace() for char in value):
        raise ValueError(f"{value!r} is not a region id (it contains spaces)")
    return value


def port(raw: Any) -> int:
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{number} is not a port number (0 to 65535)")
    return number


def listen_address(raw: Any) -> tuple[str, int] | None:
    """``"host:port"`` or ``"[v6]:port"``; an empty string turns it off."""
    value = text(raw)
    if value.lower() in ("", "off", "none"):
        return None
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:9713)")
    host = host.removeprefix("[").removesuffix("]")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{host!r} is not an IP address (use 127.0.0.1, ::1 or 0.0.0.0)"
            ) from None
    return host, port(port_text)


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:9713``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unknown_key(word: str, known: Iterable[str]) -> str:
    """``unknown key``, with the closest known key when one is near.

    difflib is imported here, on the error path: the daemon would otherwise
    carry it for months without using it.
    """
    import difflib

    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f"unknown key (did you mean {close[0]}?)" if close else "unknown key"
