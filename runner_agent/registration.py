"""Registering this host as a runner, safely against crashes and races.

The control plane shows a runner's key once, in the answer to the create,
and a (region, name) pair can be created only once. A process that dies
after the create but before writing the key down has therefore made a
runner nobody can use, under the name the host wants. Registration is built
around that:

1. Everything happens under the state directory's lock, so two
   ``register`` processes on one host run one after the other; the second
   finds the identity the first wrote and changes nothing.
2. Before the create, a *pending registration* record (name, region, time)
   is written and synced to disk. After the identity is safely written, the
   record is removed. A record found at the start of a later attempt means
   an earlier attempt may have created a runner and lost its key.
3. Such an attempt *reconciles* first: it looks for a runner of that name in
   that region. If there is one that has never checked in (still
   ``initializing``, never checked) and was created around the time of the
   record, it is the orphan: it is cordoned (the API deletes only
   unschedulable runners) and deleted, and the name is free again. A runner
   that has checked in, or was created at another time, belongs to someone
   else and is never touched; the registration stops and says so.
4. When the create fails without a usable answer (timeout, connection
   lost, 5xx, an answer without the key), the pending record stays, so the
   next attempt reconciles. When the server refuses it (4xx), no runner
   was made and the record is removed.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from runner_agent import errors
from runner_agent.client import RunnersClient
from runner_agent.models import Runner
from runner_agent.state import PENDING_FILE, Identity, StateDir, utc_now

log = structlog.get_logger(__name__)

# How far apart the pending record's time (host clock) and the orphan's
# creation time (control plane clock) may be and still be one attempt: the
# create's own timeout plus generous room for clock skew.
ORPHAN_WINDOW = timedelta(minutes=15)


def default_runner_name() -> str:
    """The host name, made a valid runner name (letters, digits, '_.-')."""
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", socket.gethostname())[:255]
    return name if len(name) >= 2 else f"runner-{name}"


@dataclass(frozen=True)
class RegistrationRequest:
    """The runner to create."""

    region_id: str
    name: str
    tags: tuple[str, ...] = ()
    sandbox_class: str = "container"


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
            if _still_exists(client, existing):
                return RegistrationResult(identity=existing, created=False)
            if not force:
                raise errors.RunnerGoneError(
                    f"runner {existing.runner_id} ({existing.name}) that this host "
                    "is registered as no longer accepts its key; run "
                    "runner-agent register --force to register anew",
                    path=str(state.file("identity.json")),
                )
            replaced = existing.runner_id
            _set_aside(state, existing)

        if not request.region_id:
            raise errors.ConfigError(
                "registering needs a region: set runner.region_id or --region-id",
                key="runner.region_id",
            )
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


def _still_exists(client: RunnersClient, identity: Identity) -> bool:
    """Ask the control plane whether the stored key still names a runner."""
    client.credentials = client.credentials.with_runner(identity.token)
    try:
        runner = client.get_me()
    except (errors.UnauthorizedError, errors.NotFoundError):
        return False
    if runner.id != identity.runner_id:
        raise errors.StateError(
            f"the stored key belongs to runner {runner.id}, "
            f"not to {identity.runner_id} as the identity says"
        )
    return True


def _set_aside(state: StateDir, identity: Identity) -> None:
    """Keep a replaced identity for the record instead of deleting it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    state.write_json(
        f"identity.replaced-{stamp}.json", identity.to_json(show_secrets=True)
    )
    state.forget_identity()


def _reconcile_pending(client: RunnersClient, state: StateDir) -> str | None:
    """Clean up after an attempt that may have created a runner and died."""
    pending = state.read_json(PENDING_FILE)
    if pending is None:
        return None
    name = str(pending.get("name", ""))
    region_id = str(pending.get("regionId", ""))
    started = _parse_time(str(pending.get("startedAt", "")))
    runner = next(
        (r for r in client.list_runners(region_id) if r.name == name),
        None,
    )
    if runner is None:
        log.info("pending_registration_cleared", name=name, region_id=region_id)
        state.remove(PENDING_FILE)
        return None
    if not _is_orphan_of(runner, started):
        raise errors.ConflictError(
            f"a runner named {name} already exists in region {region_id} "
            f"(id {runner.id}, state {runner.state}) and it is not a leftover of "
            "an interrupted registration on this host; choose another name "
            "with --name, or retire that runner first",
            status=409,
            operation="register",
        )
    log.warning(
        "orphan_runner_removed",
        runner_id=runner.id,
        name=name,
        reason="an earlier registration created it and lost its key",
    )
    client.set_scheduling(runner.id, unschedulable=True)
    with contextlib.suppress(errors.NotFoundError):
        client.delete_runner(runner.id)
    state.remove(PENDING_FILE)
    return runner.id


def _is_orphan_of(runner: Runner, started: datetime | None) -> bool:
    never_checked_in = runner.state == "initializing" and not runner.last_checked
    created = _parse_time(runner.created_at or "")
    if not never_checked_in or started is None or created is None:
        return False
    return abs(created - started) <= ORPHAN_WINDOW


def _create(
    client: RunnersClient, state: StateDir, request: RegistrationRequest
) -> Identity:
    state.write_json(
        PENDING_FILE,
        {
            "name": request.name,
            "regionId": request.region_id,
            "startedAt": utc_now(),
            "host": socket.gethostname(),
        },
    )
    try:
        created = client.create_runner(
            region_id=request.region_id,
            name=request.name,
            tags=list(request.tags),
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
    )
    state.save_identity(identity)
    state.remove(PENDING_FILE)
    client.credentials = client.credentials.with_runner(identity.token)
    return identity


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
