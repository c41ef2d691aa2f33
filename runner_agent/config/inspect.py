"""The effective configuration as (key, value, origin) rows, keys masked."""

from __future__ import annotations

from typing import Any

from runner_agent.config import schema
from runner_agent.config.model import Config


def effective_values(config: Config) -> list[tuple[str, Any, str]]:
    """Every key with its effective value and where it came from."""
    rows: list[tuple[str, Any, str]] = []
    for setting in schema.SETTINGS:
        rows.append(
            (setting.key, _value(config, setting.key), str(config.origin(setting.key)))
        )
    for secret in schema.SECRETS:
        value = (
            config.credentials.for_role(secret.role)
            if secret.role
            else config.local_api.token
        )
        shown = value.masked if value else None
        rows.append(
            (secret.key, shown, str(config.origin(secret.key)) if value else "unset")
        )
    return rows


def _value(config: Config, key: str) -> Any:
    if key == "local_api.listen":
        return config.local_api.listen
    target: Any = config
    for part in key.split("."):
        target = getattr(target, part)
    if isinstance(target, tuple):
        return list(target)
    return str(target) if not isinstance(target, int | float | bool | str) else target
