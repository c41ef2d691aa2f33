"""Checks of ids and request bodies, each failing with a 400 that says why.

Bodies are held to the generated client's models: the fields they name,
with the types they declare, and no others.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from runner_agent.wsgi import HttpError

__all__ = [
    "SANDBOX_CLASSES",
    "validate_create",
    "validate_flag",
    "validate_healthcheck",
    "validate_uuid",
]

SANDBOX_CLASSES: Final = ("container", "linux-vm", "windows")
_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
_CREATE_FIELDS: Final = frozenset({"regionId", "name", "tags", "sandboxClass"})
_HEALTHCHECK_FIELDS: Final = frozenset(
    {"metrics", "serviceHealth", "domain", "proxyUrl", "apiUrl", "appVersion"}
)
_REQUIRED_METRICS: Final = (
    "currentCpuLoadAverage",
    "currentCpuUsagePercentage",
    "currentMemoryUsagePercentage",
    "currentDiskUsagePercentage",
    "currentAllocatedCpu",
    "currentAllocatedMemoryGiB",
    "currentAllocatedDiskGiB",
    "currentSnapshotCount",
    "currentStartedSandboxes",
    "cpu",
    "memoryGiB",
    "diskGiB",
)
_METRIC_FIELDS: Final = frozenset({*_REQUIRED_METRICS, "gpu", "gpuType"})
_SERVICE_FIELDS: Final = frozenset({"serviceName", "healthy", "errorReason"})


def validate_uuid(value: str, what: str = "id") -> str:
    """``value`` when it is a UUID; 400 otherwise."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise HttpError(
            400, f"Validation failed ({what} must be a UUID, got {value!r})"
        ) from None
    return value


def _refuse_unknown(body: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        names = ", ".join(unknown)
        raise HttpError(400, f"{where}: unknown field(s) {names}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_string(body: dict[str, Any], key: str, where: str) -> None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, f"{where}: {key} must be a string")


def validate_create(body: dict[str, Any]) -> tuple[str, str, list[str], str]:
    """Check a create body; answer region id, name, tags and sandbox class."""
    _refuse_unknown(body, _CREATE_FIELDS, "CreateRunner")
    region_id = body.get("regionId")
    if not isinstance(region_id, str) or not region_id.strip():
        raise HttpError(400, "CreateRunner: regionId must be a non-empty string")
    name = _validate_name(body.get("name"))
    tags = body.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise HttpError(400, "CreateRunner: tags must be a list of strings")
    sandbox_class = body.get("sandboxClass") or "container"
    if sandbox_class not in SANDBOX_CLASSES:
        allowed = ", ".join(SANDBOX_CLASSES)
        raise HttpError(400, f"CreateRunner: sandboxClass must be one of {allowed}")

    return region_id, name, tags, sandbox_class


def _validate_name(name: Any) -> str:
    if not isinstance(name, str):
        raise HttpError(400, "CreateRunner: name must be a string")
    if not 2 <= len(name) <= 255:
        raise HttpError(400, "CreateRunner: name must be 2 to 255 characters long")
    if not _NAME.fullmatch(name):
        raise HttpError(
            400,
            "CreateRunner: name may contain only letters, digits, '_', '.' and '-'",
        )
    return name


def validate_flag(body: dict[str, Any], key: str) -> bool:
    """The boolean ``key`` of a one-field body such as ``{"draining": true}``."""
    _refuse_unknown(body, frozenset({key}), "Request body")
    value = body.get(key)
    if not isinstance(value, bool):
        raise HttpError(400, f"{key} must be a boolean")

    return value


def validate_healthcheck(body: dict[str, Any]) -> dict[str, Any]:
    """Check a ``RunnerHealthcheck`` body; answer it unchanged."""
    where = "RunnerHealthcheck"
    _refuse_unknown(body, _HEALTHCHECK_FIELDS, where)
    if not isinstance(body.get("appVersion"), str):
        raise HttpError(400, f"{where}: appVersion must be a string")
    for key in ("domain", "proxyUrl", "apiUrl"):
        _optional_string(body, key, where)
    if body.get("metrics") is not None:
        _validate_metrics(body["metrics"])
    if body.get("serviceHealth") is not None:
        _validate_services(body["serviceHealth"])

    return body


def _validate_metrics(metrics: Any) -> None:
    where = "RunnerHealthcheck.metrics"
    if not isinstance(metrics, dict):
        raise HttpError(400, f"{where} must be an object")
    _refuse_unknown(metrics, _METRIC_FIELDS, where)
    for key in _REQUIRED_METRICS:
        if not _is_number(metrics.get(key)):
            raise HttpError(400, f"{where}: {key} must be a number")
    if metrics.get("gpu") is not None and not _is_number(metrics["gpu"]):
        raise HttpError(400, f"{where}: gpu must be a number")
    _optional_string(metrics, "gpuType", where)


def _validate_services(services: Any) -> None:
    where = "RunnerHealthcheck.serviceHealth"
    if not isinstance(services, list):
        raise HttpError(400, f"{where} must be a list")
    for service in services:
        if not isinstance(service, dict):
            raise HttpError(400, f"{where}: each entry must be an object")
        _refuse_unknown(service, _SERVICE_FIELDS, where)
        if not isinstance(service.get("serviceName"), str):
            raise HttpError(400, f"{where}: serviceName must be a string")
        if not isinstance(service.get("healthy"), bool):
            raise HttpError(400, f"{where}: healthy must be a boolean")
        _optional_string(service, "errorReason", where)
