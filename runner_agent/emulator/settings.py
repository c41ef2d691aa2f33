"""The emulator's settings: where it listens, its keys, its region, its clock.

Every key and id is generated when not given, so a bare
``EmulatorSettings()`` is a complete, unique configuration. Keys follow the
look of Daytona's (``dtn_`` and a random URL-safe string); they are
throwaway test keys and the emulator prints them on purpose.

The timings default to the control plane's own: a periodic check every
10 s, a runner silent for 60 s is unresponsive, a draining runner without
live sandboxes is decommissioned on the third check in a row.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EmulatorSettings", "new_key"]


def new_key() -> str:
    """Return a fresh key shaped like a Daytona API key."""
    return "dtn_" + secrets.token_urlsafe(32)


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything an emulator instance is started with.

    ``auth_failure_limit`` emulates the control plane's lock-out of clients
    that keep sending a refused key: after that many 401 answers within
    ``auth_failure_window`` seconds, every request gets 429 with
    ``Retry-After`` until the window has passed. 0 (the default) disables it.
    """

    host: str = "127.0.0.1"
    port: int = 0
    organization_id: str = field(default_factory=_new_uuid)
    organization_key: str = field(default_factory=new_key)
    proxy_key: str = field(default_factory=new_key)
    region_id: str = field(default_factory=_new_uuid)
    region_name: str = "local"
    check_interval: float = 10.0
    unresponsive_after: float = 60.0
    decommission_checks: int = 3
    auth_failure_limit: int = 0
    auth_failure_window: float = 60.0
    request_log_size: int = 500
    threads: int = 8

    def __post_init__(self) -> None:
        if self.organization_key == self.proxy_key:
            raise ValueError("the organization key and the proxy key must differ")
        if self.check_interval <= 0:
            raise ValueError("check_interval must be positive")
        if self.unresponsive_after <= 0:
            raise ValueError("unresponsive_after must be positive")
        if self.decommission_checks < 1:
            raise ValueError("decommission_checks must be at least 1")

    def replace(self, **changes: Any) -> EmulatorSettings:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The settings as shown by the control surface."""
        return {
            "host": self.host,
            "port": self.port,
            "organizationId": self.organization_id,
            "regionId": self.region_id,
            "regionName": self.region_name,
            "checkInterval": self.check_interval,
            "unresponsiveAfter": self.unresponsive_after,
            "decommissionChecks": self.decommission_checks,
            "authFailureLimit": self.auth_failure_limit,
            "authFailureWindow": self.auth_failure_window,
            "requestLogSize": self.request_log_size,
        }
