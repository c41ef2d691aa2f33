"""Logging, configured here and nowhere else.

Every module only asks ``structlog.get_logger()`` for a logger. This module
decides the rest: JSON lines when standard error is not a terminal (journald
and container runtimes collect them), readable console lines when it is,
the level, and a processor that masks every known key wherever it would
appear: in a value, in a nested structure, in a formatted traceback.

Logs go to standard error so that standard output stays clean for the data
that commands print (``--json``). Libraries that log through the standard
``logging`` module (waitress, APScheduler) are rendered the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from runner_agent.credentials import mask, redact

Format = Literal["auto", "json", "console"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_custom_renderer: Processor | None = None
# Fields every line of this process carries, whichever thread logs it.
_process_fields: dict[str, Any] = {}
_SECRET_NAMES = ("authorization", "api_key", "apikey", "token", "password", "secret")


def _is_secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(part in lowered for part in _SECRET_NAMES)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: mask(str(item)) if _is_secret_name(str(key)) and item else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item) for item in value)
    return value


def mask_secrets(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Mask known keys in every value, and any value under a secret's name."""
    for key, value in list(event_dict.items()):
        if _is_secret_name(key) and value and not isinstance(value, bool):
            event_dict[key] = mask(str(value))
        else:
            event_dict[key] = _scrub(value)
    return event_dict


def _renderer(fmt: Format, stream: TextIO) -> Processor:
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    if console:
        return structlog.dev.ConsoleRenderer(
            colors=stream.isatty(),
            exception_formatter=structlog.dev.plain_traceback,
        )
    return structlog.processors.JSONRenderer(sort_keys=False)


def add_process_fields(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Add the fields bound with :func:`bind_process` (an event's own win)."""
    for key, value in _process_fields.items():
        event_dict.setdefault(key, value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_process_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_secrets,
    ]


def configure_logging(
    level: str = "info",
    fmt: Format = "auto",
    stream: TextIO | None = None,
    *,
    renderer: Processor | None = None,
) -> None:
    """Set up structlog and the standard library's logging, idempotently.

    Safe to call again (on reload) with another level or format. A custom
    ``renderer`` (the demo's) replaces the JSON or console one and keeps
    until logging is configured again without one.
    """
    global _custom_renderer
    if renderer is not None:
        _custom_renderer = renderer
    stream = stream or sys.stderr
    numeric = _LEVELS.get(level, logging.INFO)
    renderer = _custom_renderer or _renderer(fmt, stream)
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        # Not cached, so a reload's new level reaches loggers made earlier.
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(numeric, renderer, stream)


def _route_standard_logging(level: int, renderer: Processor, stream: TextIO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Third-party chatter (a scheduler's "job executed") is not ours to show
    # at info; their warnings and errors still come through.
    root.setLevel(max(level, logging.WARNING))


def reset_renderer() -> None:
    """Forget a custom renderer set by :func:`configure_logging`."""
    global _custom_renderer
    _custom_renderer = None


def bind_context(**values: Any) -> None:
    """Attach values (a command's name) to later log lines of this thread."""
    structlog.contextvars.bind_contextvars(**values)


def bind_process(**values: Any) -> None:
    """Attach values (the runner id) to every later line of every thread.

    Context variables bound in one thread do not reach threads started
    elsewhere (a scheduler's pool, a server's workers), so values that
    belong to the whole process are kept here instead.
    """
    global _process_fields
    # Replaced, never changed in place: a thread may be logging meanwhile.
    _process_fields = {**_process_fields, **values}


def unbind_process(*keys: str) -> None:
    """Stop adding ``keys`` to log lines."""
    global _process_fields
    _process_fields = {k: v for k, v in _process_fields.items() if k not in keys}


def event_fields(event: MutableMapping[str, Any]) -> dict[str, Any]:
    """A log event without the fields every line carries (for displays)."""
    return {
        key: value
        for key, value in event.items()
        if key not in ("event", "level", "timestamp")
    }
