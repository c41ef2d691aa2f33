"""Registering this host as a runner, safely against crashes and races.

The control plane shows a runner's key once, in the answer to the create,
and a (region, name) pair can be created only once. A process that dies
after the create but before writing the key down has therefore made a
runner nobody can use, under the name the host wants. Registration is built
around that:

1. Everything happens under the state directory's lock, so two
   ``register`` processes on one host run one after the other; the second
   finds the identity the first wrote and changes nothing.
2. Before the create, a *pending registration* record (name, region, time
   and a random token) is written and synced to disk, and the create sends
   the token as the tag ``runner-agent.registration=<token>``. After the
   identity is safely written, the record is removed. A record found at the
   start of a later attempt means an earlier attempt may have created a
   runner and lost its key.
3. Such an attempt *reconciles* first: it looks in that region for the
   runner carrying the record's tag. Only that runner can be the orphan;
   if it has never checked in, it is cordoned (the API deletes only
   unschedulable runners) and deleted, and the name is free again. Any
   other runner, whatever its name, age or state, belongs to someone else
   and is never touched: hosts cloned from one image share a host name,
   which is the default runner name.
4. When the create fails without a usable answer (timeout, connection
   lost, 5xx, an answer without the key), the pending record stays, so the
   next attempt reconciles. When the server refuses it (4xx), no runner
   was made and the record is removed.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.models import Runner, RunnerFull
from runner_agent.state import PENDING_FILE, Identity, StateDir, utc_now

log = structlog.get_logger(__name__)

# The tag that ties a runner to the pending record of the attempt that
# created it. Tags are the only free-form part of the create body.
REGISTRATION_TAG_PREFIX: Final = "runner-agent.registration="


def default_runner_name() -> str:
    """The host name, made a valid runner name (letters, digits, '_.-')."""
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", socket.gethostname())[:255]
    return name if len(name) >= 2 else f"runner-{name}"


def registration_tag(token: str) -> str:
    """The tag a create sends to be recognised by its pending record."""
    return f"{REGISTRATION_TAG_PREFIX}{token}"


@dataclass(frozen=True)
class RegistrationRequest:
    """The runner to create, and the addresses to keep with its identity."""

    region_id: str
    name: str
    tags: tuple[str, ...] = ()
    sandbox_class: str = "container"
    domain: str = ""
    runner_api_url: str = ""
    proxy_url: str = ""


@dataclass(frozen=True)
class RegistrationResult:
    """What ``register`` found or did."""

    identity: Identity
    created: bool
    removed_orphan: str | None = None
    replaced: str | None = None


def register(
    client: RunnersClient,
    state: StateDir,
    request: RegistrationRequest,
    *,
    force: bool = False,
) -> RegistrationResult:
    """Make sure this host has a working runner identity; create one if not."""
    with state.lock():
        existing = state.load_identity()
        replaced = None
        if existing is not None:
            runner = _stored_runner(client, existing)
            if runner is not None and runner.state != "decommissioned":
                _drop_stale_pending(state)
                return RegistrationResult(identity=existing, created=False)
            if not force:
                raise _gone(existing, runner, state)
            if runner is not None:
                _remove_retired(client, runner)
            replaced = existing.runner_id
            _set_aside(state, existing)

        _check(request)
        orphan = _reconcile_pending(client, state)
        identity = _create(client, state, request)
        log.info(
            "runner_registered",
            runner_id=identity.runner_id,
            name=identity.name,
            region_id=identity.region_id,
            removed_orphan=orphan,
        )
        return RegistrationResult(
            identity=identity, created=True, removed_orphan=orphan, replaced=replaced
        )


def _stored_runner(client: RunnersClient, identity: Identity) -> RunnerFull | None:
    """The runner the stored key names; None when the key no longer works."""
    client.credentials = client.credentials.with_runner(identity.token)
    try:
        runner = client.get_me()
    except (errors.UnauthorizedError, errors.NotFoundError):
        return None
    if runner.id != identity.runner_id:
        raise errors.StateError(
            f"the stored key belongs to runner {runner.id}, "
            f"not to {identity.runner_id} as the identity says"
        )
    return runner


def _gone(
    identity: Identity, runner: Runner | None, state: StateDir
) -> errors.RunnerGoneError:
    """The error for a stored runner that can no longer serve this host."""
    which = f"runner {identity.runner_id} ({identity.name}) that this host is "
    if runner is None:
        problem = "registered as no longer accepts its key"
        way_out = "run runner-agent register --force to register anew"
    else:
        # Its healthchecks are ignored for good: registering on every boot
        # must not report such a host as fine.
        problem = (
            "registered as is decommissioned, which is final: the control "
            "plane ignores its healthchecks"
        )
        way_out = (
            "run runner-agent deregister, then runner-agent register; or "
            "runner-agent register --force to register anew"
        )
    return errors.RunnerGoneError(
        f"{which}{problem}; {way_out}", path=str(state.file("identity.json"))
    )


def _remove_retired(client: RunnersClient, runner: Runner) -> None:
    """Delete this host's decommissioned runner, as deregister would.

    It can never serve again, and while it exists it holds its name.
    """
    log.info("decommissioned_runner_removed", runner_id=runner.id, name=runner.name)
    client.set_scheduling(runner.id, unschedulable=True)
    with contextlib.suppress(errors.NotFoundError):
        client.delete_runner(runner.id)


def _set_aside(state: StateDir, identity: Identity) -> None:
    """Keep a replaced identity for the record instead of deleting it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    state.write_json(
        f"identity.replaced-{stamp}.json", identity.to_json(show_secrets=True)
    )
    state.forget_identity()


def _drop_stale_pending(state: StateDir) -> None:
    """Remove a record left by a stop between the identity write and its removal.

    The identity is written first, so beside a working identity the record
    only ever describes the runner that identity holds.
    """
    if state.read_json(PENDING_FILE) is not None:
        log.info("pending_registration_cleared", reason="the identity was written")
        state.remove(PENDING_FILE)


def _check(request: RegistrationRequest) -> None:
    if not request.region_id:
        raise errors.ConfigError(
            "registering needs a region: set runner.region_id or --region-id",
            key="runner.region_id",
        )
    if any(tag.startswith(REGISTRATION_TAG_PREFIX) for tag in request.tags):
        raise errors.ConfigError(
            f"tags starting with {REGISTRATION_TAG_PREFIX} are set by "
            "registration itself; remove it",
            key="runner.tags",
        )


def _reconcile_pending(client: RunnersClient, state: StateDir) -> str | None:
    """Clean up after an attempt that may have created a runner and died."""
    pending = state.read_json(PENDING_FILE)
    if pending is None:
        return None
    name = str(pending.get("name", ""))
    region_id = str(pending.get("regionId", ""))
    token = str(pending.get("token", ""))
    in_region = client.list_runners(region_id)
    orphan = next((r for r in in_region if _carries(r, token)), None)
    if orphan is None:
        _clear_pending(state, name, region_id, token, in_region)
        return None
    if orphan.state != "initializing" or orphan.last_checked:
        state.remove(PENDING_FILE)
        raise errors.ConflictError(
            f"runner {orphan.id} ({orphan.name}) in region {region_id} was made "
            "by an interrupted registration on this host, but it has checked in "
            "since, so someone holds its key; it is left alone: retire it, or "
            "choose another name with --name",
            status=409,
            operation="register",
        )

    log.warning(
        "orphan_runner_removed",
        runner_id=orphan.id,
        name=orphan.name,
        reason="an earlier registration created it and lost its key",
    )
    client.set_scheduling(orphan.id, unschedulable=True)
    with contextlib.suppress(errors.NotFoundError):
        client.delete_runner(orphan.id)
    state.remove(PENDING_FILE)
    return orphan.id


def _carries(runner: Runner, token: str) -> bool:
    return bool(token) and registration_tag(token) in runner.tags


def _clear_pending(
    state: StateDir, name: str, region_id: str, token: str, in_region: list[Runner]
) -> None:
    """No runner carries the record's tag: the earlier create made none."""
    namesake = next((r for r in in_region if r.name == name), None)
    if namesake is not None and not token:
        # A record from a version that wrote no token cannot prove whose
        # runner this is, so it is left for a person to judge.
        log.warning(
            "pending_registration_unverifiable",
            runner_id=namesake.id,
            name=name,
            region_id=region_id,
            reason="the record has no token; delete the runner if it is a "
            "leftover of this host",
        )
    log.info("pending_registration_cleared", name=name, region_id=region_id)
    state.remove(PENDING_FILE)


def _create(
    client: RunnersClient, state: StateDir, request: RegistrationRequest
) -> Identity:
    token = secrets.token_hex(8)
    state.write_json(PENDING_FILE, _pending_record(request, token))
    try:
        created = client.create_runner(
            region_id=request.region_id,
            name=request.name,
            tags=[*request.tags, registration_tag(token)],
            sandbox_class=request.sandbox_class,
        )
    except errors.ApiError as error:
        # Only a refusal (4xx) proves no runner was made; after anything
        # else the create may have happened: keep the record to reconcile.
        if 400 <= error.status < 500:
            state.remove(PENDING_FILE)
        if isinstance(error, errors.ConflictError):
            raise error.with_hint(
                f"another host may use the name {request.name}: "
                "choose another with --name"
            ) from error
        raise

    identity = Identity(
        runner_id=created.id,
        token=created.api_key,
        name=request.name,
        region_id=request.region_id,
        api_url=client.api_url,
        registered_at=utc_now(),
        domain=request.domain,
        runner_api_url=request.runner_api_url,
        proxy_url=request.proxy_url,
    )
    state.save_identity(identity)
    state.remove(PENDING_FILE)
    client.credentials = client.credentials.with_runner(identity.token)
    return identity


def _pending_record(request: RegistrationRequest, token: str) -> dict[str, Any]:
    return {
        "name": request.name,
        "regionId": request.region_id,
        "startedAt": utc_now(),
        "host": socket.gethostname(),
        "token": token,
    }
