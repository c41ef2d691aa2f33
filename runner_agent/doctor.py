"""The checks of ``runner-agent doctor``: what usually goes wrong on a host.

Each check ends in a :class:`Check`: ``ok``, ``warn``, ``fail`` or
``skip``, what was found, and how to fix it. Checks never raise: a broken
configuration is a failed check, and so is a control plane that cannot be
reached. :func:`run_checks` runs them in the order an operator would look:
configuration, keys and files, the control plane and this runner on it,
then the host (the agent's local endpoint, Docker, the disk).
"""

from __future__ import annotations

import os
import stat
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil

from runner_agent import errors
from runner_agent.config import Config
from runner_agent.config.schema import SECRETS
from runner_agent.context import AgentContext
from runner_agent.models import RunnerFull
from runner_agent.state import IDENTITY_FILE, Identity, Intent, StateDir

Status = Literal["ok", "warn", "fail", "skip"]

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_DATA_DIR = "/var/lib/docker"
# Beyond this the host's clock and the control plane's disagree enough to
# confuse every timestamp an operator compares.
CLOCK_SKEW_WARNING = 30.0
DISK_FULL_WARNING = 90.0


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, the verdict, what was seen, the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }


def run_checks(load: Callable[[], Config]) -> list[Check]:
    """Every check, in order; ``load`` builds the configuration."""
    try:
        config = load()
    except errors.ConfigError as error:
        return [
            Check(
                "configuration",
                "fail",
                str(error),
                "correct the value named above, then run runner-agent config check",
            )
        ]

    where = str(config.path) if config.path else "defaults and environment"
    checks = [Check("configuration", "ok", f"valid ({where})")]
    identity_check, identity = check_identity(config)
    checks += [identity_check, check_permissions(config)]
    checks += ControlPlaneChecks(config, identity).run()
    checks += [check_agent(config), check_docker(config), check_disk(config)]
    return checks


# Keys and files.


def check_identity(config: Config) -> tuple[Check, Identity | None]:
    """Whether this host knows its runner: the identity file or a runner key."""
    state = StateDir(config.state_dir)
    try:
        identity = state.load_identity()
    except errors.StateError as error:
        return Check("runner identity", "fail", str(error), "fix the file above"), None
    if identity is not None:
        detail = f"runner {identity.name} ({identity.runner_id}) in {state.path}"
        return Check("runner identity", "ok", detail), identity
    token = config.credentials.runner
    if token:
        origin = config.origin("runner_token")
        return Check("runner identity", "ok", f"runner key from {origin}"), Identity(
            runner_id="", token=token
        )
    return _unregistered(config), None


def _unregistered(config: Config) -> Check:
    can_register = bool(
        config.credentials.organization
        and config.runner.region_id
        and config.lifecycle.register_on_start
    )
    return Check(
        "runner identity",
        "warn" if can_register else "fail",
        f"this host is not registered (nothing in {config.state_dir})",
        "runner-agent register (with the organization key and runner.region_id)",
    )


def check_permissions(config: Config) -> Check:
    """Modes and owners of the configuration, key files and state directory."""
    seen: list[str] = []
    problems: list[tuple[Status, str, str]] = []
    if config.path is not None:
        _config_file(config.path, seen, problems)
    for path in secret_files(config):
        _key_file(path, seen, problems)
    _state_files(StateDir(config.state_dir), seen, problems)

    if not problems:
        return Check("permissions", "ok", ", ".join(seen) or "no files yet")
    status: Status = "fail" if any(p[0] == "fail" for p in problems) else "warn"
    return Check(
        "permissions",
        status,
        "; ".join(detail for _, detail, _ in problems),
        "; ".join(fix for _, _, fix in problems),
    )


def secret_files(config: Config) -> list[Path]:
    """The files the keys in use were read from."""
    file_keys = _file_values(config.path)
    paths = []
    for secret in SECRETS:
        origin = config.origin(secret.key)
        if origin.kind == "credential":
            paths.append(Path(origin.where))
        elif origin.kind == "env" and origin.where == secret.file_env:
            paths.append(Path(os.environ.get(secret.file_env, "")))
        elif origin.kind == "file" and secret.file_key in file_keys:
            paths.append(Path(str(file_keys[secret.file_key])))
    return [path for path in paths if str(path) not in ("", ".")]


def _file_values(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _config_file(
    path: Path, seen: list[str], problems: list[tuple[Status, str, str]]
) -> None:
    mode = _mode(path)
    if mode is None or not path.is_file():
        return
    seen.append(f"{path.name} {mode:04o}")
    if mode & 0o022:
        problems.append(
            (
                "warn",
                f"{path} is writable by group or others (mode {mode:04o})",
                f"chmod go-w {path}",
            )
        )


def _key_file(
    path: Path, seen: list[str], problems: list[tuple[Status, str, str]]
) -> None:
    mode = _mode(path)
    if mode is None:
        problems.append(("fail", f"key file {path} cannot be read", f"check {path}"))
        return
    seen.append(f"{path.name} {mode:04o}")
    if mode & 0o077:
        problems.append(
            (
                "fail",
                f"key file {path} is readable by group or others (mode {mode:04o})",
                f"chmod 600 {path}",
            )
        )


def _state_files(
    state: StateDir, seen: list[str], problems: list[tuple[Status, str, str]]
) -> None:
    mode = _mode(state.path)
    if mode is None:
        return
    seen.append(f"{state.path.name}/ {mode:04o}")
    if mode != 0o700:
        problems.append(
            (
                "warn",
                f"state directory {state.path} is mode {mode:04o}, not 0700",
                f"chmod 700 {state.path}",
            )
        )
    identity = state.file(IDENTITY_FILE)
    identity_mode = _mode(identity)
    if identity_mode is None:
        return
    seen.append(f"{IDENTITY_FILE} {identity_mode:04o}")
    if identity_mode & 0o077:
        problems.append(
            (
                "fail",
                f"{identity} is readable by group or others",
                f"chmod 600 {identity}",
            )
        )
    owner, file_owner = state.path.stat().st_uid, identity.stat().st_uid
    if owner != file_owner:
        problems.append(
            (
                "warn",
                f"{identity} belongs to uid {file_owner}, its directory to uid {owner}",
                f"chown {owner} {identity}",
            )
        )


# The control plane.


class ControlPlaneChecks:
    """Reachability, TLS, keys, clock and this runner, over one client."""

    def __init__(self, config: Config, identity: Identity | None) -> None:
        self.config = config
        self.identity = identity
        self.checks: list[Check] = []

    def run(self) -> list[Check]:
        if self.identity is None and not self.config.credentials.organization:
            return [Check("control plane", "skip", "no key to ask it with")]
        context = AgentContext(self.config, timeout=10.0)
        try:
            reachable = self._with_runner_key(context)
            if reachable:
                reachable = self._with_organization_key(context)
            if reachable:
                self.checks.append(check_clock(context.client.server_date))
        finally:
            context.close()
        return self.checks

    def _with_runner_key(self, context: AgentContext) -> bool:
        if self.identity is None:
            return True
        context.use_runner_key(self.identity)
        started = time.monotonic()
        try:
            me = context.client.get_me()
        except (errors.TransportError, errors.ServerError) as error:
            self.checks.append(_unreachable(error))
            return False
        except errors.ApiError as error:
            self._answered(started)
            self.checks.append(_runner_refused(error))
            return True
        self._answered(started)
        self.checks += [
            self._match(me),
            runner_state(me, StateDir(self.config.state_dir).load_intent()),
        ]
        return True

    def _with_organization_key(self, context: AgentContext) -> bool:
        key = self.config.credentials.organization
        if not key:
            self.checks.append(
                Check(
                    "organization key",
                    "warn",
                    "not set: register, cordon, drain, deregister and runners "
                    "commands need it",
                    "set DAYTONA_API_KEY or DAYTONA_API_KEY_FILE, or api_key_file "
                    "in the configuration",
                )
            )
            return True
        started = time.monotonic()
        try:
            context.client.list_runners(self.config.runner.region_id or None)
        except (errors.TransportError, errors.ServerError) as error:
            self.checks.append(_unreachable(error))
            return False
        except errors.ApiError as error:
            self._answered(started)
            self.checks.append(
                Check(
                    "organization key",
                    "fail",
                    f"refused: {error}",
                    "check DAYTONA_API_KEY / api_key_file and the key's permissions",
                )
            )
            return True
        self._answered(started)
        origin = self.config.origin("api_key")
        self.checks.append(Check("organization key", "ok", f"accepted (from {origin})"))
        return True

    def _answered(self, started: float) -> None:
        if any(check.name == "control plane" for check in self.checks):
            return
        elapsed = (time.monotonic() - started) * 1000
        url = self.config.api_url
        tls = ", TLS verified" if url.startswith("https:") else ""
        detail = f"{url} answered in {elapsed:.0f} ms{tls}"
        self.checks.insert(0, Check("control plane", "ok", detail))

    def _match(self, me: RunnerFull) -> Check:
        expected = self.identity.runner_id if self.identity else ""
        if expected and me.id != expected:
            return Check(
                "identity matches",
                "fail",
                f"the runner key belongs to runner {me.id}, the identity says "
                f"{expected}",
                "remove the stray DAYTONA_RUNNER_TOKEN, or register anew",
            )
        return Check("identity matches", "ok", f"runner {me.name} ({me.id})")


def _unreachable(error: errors.ApiError) -> Check:
    return Check(
        "control plane",
        "fail",
        str(error),
        "check api_url, DNS, the network and any proxy; for TLS errors, ca_bundle",
    )


def _runner_refused(error: errors.ApiError) -> Check:
    if isinstance(error, errors.NotFoundError):
        return Check(
            "identity matches",
            "fail",
            "this host's runner no longer exists on the control plane",
            "runner-agent register --force",
        )
    return Check(
        "identity matches",
        "fail",
        f"the runner key is refused: {error}",
        "runner-agent register --force if the runner was deleted; "
        "otherwise check DAYTONA_RUNNER_TOKEN",
    )


def runner_state(runner: RunnerFull, intent: Intent) -> Check:
    """The control plane's verdict on this runner, read with the intent."""
    state = runner.state
    scheduling = "cordoned" if runner.unschedulable else "schedulable"
    draining = f", draining since {intent.draining_since}" if intent.draining else ""
    detail = f"{state}, {scheduling}{draining}"
    if state == "ready" and not runner.unschedulable and not intent.draining:
        return Check("runner state", "ok", detail)
    status, fix = _verdict(runner, intent)
    return Check("runner state", status, detail, fix)


def _verdict(runner: RunnerFull, intent: Intent) -> tuple[Status, str]:
    state = runner.state
    if state == "unresponsive":
        return "fail", "is the service running? systemctl status runner-agent"
    if state == "decommissioned" and not intent.draining:
        return "fail", "retired without this host asking: deregister, register"
    if state == "decommissioned":
        return "warn", "runner-agent deregister deletes it"
    if state == "initializing":
        return "warn", "no healthcheck accepted yet: start the service"
    if intent.draining:
        return "warn", "it is retiring; runner-agent undrain if that is a mistake"
    if runner.unschedulable:
        return "warn", "runner-agent uncordon when maintenance is over"
    return "warn", f"the control plane says {state}"


def check_clock(server_date: datetime | None) -> Check:
    """The host's clock against the control plane's ``Date`` header."""
    if server_date is None:
        return Check("clock", "skip", "the control plane sent no Date header")
    skew = (datetime.now(UTC) - server_date).total_seconds()
    way = "ahead of" if skew > 0 else "behind"
    detail = f"{abs(skew):.0f}s {way} the control plane"
    if abs(skew) <= CLOCK_SKEW_WARNING:
        return Check("clock", "ok", detail)
    return Check("clock", "warn", detail, "turn on time sync: timedatectl set-ntp true")


# The host.


def agent_status(config: Config, timeout: float = 1.0) -> dict[str, Any] | None:
    """The running agent's ``/status`` document; None when it does not answer."""
    address = config.local_api.address
    if address is None or address[1] == 0:
        return None
    host, port = address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        # The local endpoint is never reached through a proxy.
        response = httpx.get(
            f"http://{authority}/status", timeout=timeout, trust_env=False
        )
        document = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def check_agent(config: Config) -> Check:
    """Whether the agent's service answers on its local endpoint."""
    if config.local_api.address is None:
        return Check("local agent", "skip", "local_api.listen is off")
    if config.local_api.address[1] == 0:
        return Check("local agent", "skip", "local_api.listen picks a free port")
    listen = config.local_api.listen
    document = agent_status(config)
    if document is None:
        return Check(
            "local agent",
            "warn",
            f"nothing answers on {listen}",
            "start the service: systemctl enable --now runner-agent",
        )
    mode = document.get("mode", "?")
    if document.get("ready"):
        return Check("local agent", "ok", f"{mode} and ready on {listen}")
    reasons = "; ".join(str(r) for r in document.get("reasons") or [])
    return Check(
        "local agent",
        "warn",
        f"{mode}, not ready: {reasons}",
        "journalctl -u runner-agent -e",
    )


def docker_socket(config: Config) -> str:
    """The Docker socket the agent talks to (``docker.socket`` when set)."""
    section = getattr(config, "docker", None)
    socket = getattr(section, "socket", None)
    return str(socket) if socket else DEFAULT_DOCKER_SOCKET


def check_docker(config: Config) -> Check:
    """A ``GET /_ping`` to the Docker daemon over its unix socket."""
    socket = docker_socket(config)
    required = bool(getattr(getattr(config, "docker", None), "required", False))
    if not Path(socket).exists():
        return Check(
            "docker",
            "fail" if required else "warn",
            f"no socket at {socket}: sandbox and image figures will be missing",
            "install or start Docker, or set docker.socket",
        )
    try:
        transport = httpx.HTTPTransport(uds=socket, verify=False)
        with httpx.Client(transport=transport, timeout=3.0) as client:
            response = client.get("http://docker/_ping")
    except httpx.HTTPError as error:
        return _docker_unreachable(socket, str(error))
    if response.status_code != 200:
        return _docker_unreachable(socket, f"/_ping answered {response.status_code}")
    return Check("docker", "ok", f"{socket} answers /_ping")


def _docker_unreachable(socket: str, reason: str) -> Check:
    if "ermission" in reason:
        fix = "give the agent the docker group (systemd/docker-access.conf)"
    else:
        fix = "is Docker running? systemctl status docker"
    return Check("docker", "fail", f"{socket}: {reason}", fix)


def check_disk(config: Config) -> Check:
    """The disk reported in healthchecks exists and has room."""
    configured = config.healthcheck.disk_path
    path = configured or (DOCKER_DATA_DIR if Path(DOCKER_DATA_DIR).is_dir() else "/")
    if not Path(path).exists():
        return Check(
            "disk",
            "fail",
            f"healthcheck.disk_path {path} does not exist",
            "set healthcheck.disk_path to Docker's data directory",
        )
    usage = psutil.disk_usage(path)
    detail = f"{path} is {usage.percent:.0f}% full"
    if usage.percent >= DISK_FULL_WARNING:
        return Check("disk", "warn", detail, f"free space on {path}")
    return Check("disk", "ok", detail)
