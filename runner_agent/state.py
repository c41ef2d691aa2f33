"""What the agent keeps on disk: the runner identity and its own memory.

The state directory (``/var/lib/runner-agent`` by default) is created 0700
and every file in it 0600, written atomically (temporary file, fsync,
rename, fsync of the directory) so a crash or a full disk never leaves a
half-written identity behind. Files:

``identity.json``
    the runner id and its key: the host's claim on its runner; also the
    addresses ``register`` was given to report in healthchecks.
``pending-registration.json``
    written just before a create request, removed once the identity is
    safe; its presence after a crash says a runner may exist that nobody
    holds the key of. Its token, sent as a tag with the create, tells that
    runner apart from any other (see :mod:`runner_agent.registration`).
``intent.json``
    what the agent asked the control plane for and must remember, since
    the API does not report it (draining) or since only the agent may undo
    it (a cordon it placed itself on stop).
``.lock``
    an advisory lock serialising processes that change the above.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner_agent.credentials import Secret
from runner_agent.errors import StateError

if TYPE_CHECKING:
    from runner_agent.models import Runner

IDENTITY_FILE = "identity.json"
PENDING_FILE = "pending-registration.json"
INTENT_FILE = "intent.json"
LOCK_FILE = ".lock"


def utc_now() -> str:
    """The current time as the API writes it (ISO 8601, UTC, with Z)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Identity:
    """This host's runner: its id and its own key.

    ``api_url`` is the control plane the runner belongs to. ``domain``,
    ``runner_api_url`` and ``proxy_url`` are what ``register`` was told to
    report in healthchecks when the configuration leaves them empty.
    """

    runner_id: str
    token: Secret
    name: str = ""
    region_id: str = ""
    api_url: str = ""
    registered_at: str = ""
    domain: str = ""
    runner_api_url: str = ""
    proxy_url: str = ""

    def to_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        document = {
            "runnerId": self.runner_id,
            "runnerToken": self.token.reveal() if show_secrets else self.token.masked,
            "name": self.name,
            "regionId": self.region_id,
            "apiUrl": self.api_url,
            "registeredAt": self.registered_at,
        }
        reported = {
            "domain": self.domain,
            "runnerApiUrl": self.runner_api_url,
            "proxyUrl": self.proxy_url,
        }
        # Written only when set, so the identity of a host that was given
        # none reads exactly as before.
        document.update({key: value for key, value in reported.items() if value})

        return document

    def of_runner(self, runner: Runner) -> Identity:
        """This key with the id, name and region of its runner."""
        return replace(
            self, runner_id=runner.id, name=runner.name, region_id=runner.region
        )

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Identity:
        runner_id = document.get("runnerId")
        token = document.get("runnerToken")
        if not isinstance(runner_id, str) or not isinstance(token, str) or not token:
            raise ValueError("it lacks runnerId or runnerToken")
        return cls(
            runner_id=runner_id,
            token=Secret(token),
            name=str(document.get("name", "")),
            region_id=str(document.get("regionId", "")),
            api_url=str(document.get("apiUrl", "")),
            registered_at=str(document.get("registeredAt", "")),
            domain=str(document.get("domain") or ""),
            runner_api_url=str(document.get("runnerApiUrl") or ""),
            proxy_url=str(document.get("proxyUrl") or ""),
        )


@dataclass
class Intent:
    """What the agent asked for and must remember across restarts."""

    draining: bool = False
    draining_since: str = ""
    cordoned_by_agent: bool = False
    cordoned_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "draining": self.draining,
            "drainingSince": self.draining_since,
            "cordonedByAgent": self.cordoned_by_agent,
            "cordonedAt": self.cordoned_at,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Intent:
        known = {"draining", "drainingSince", "cordonedByAgent", "cordonedAt"}
        return cls(
            draining=bool(document.get("draining", False)),
            draining_since=str(document.get("drainingSince", "")),
            cordoned_by_agent=bool(document.get("cordonedByAgent", False)),
            cordoned_at=str(document.get("cordonedAt", "")),
            extra={k: v for k, v in document.items() if k not in known},
        )


class StateDir:
    """The agent's state directory and the files in it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"StateDir({str(self.path)!r})"

    def ensure(self) -> None:
        """Create the directory 0700 if missing; tighten it if it is ours."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.path.stat()
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o700:
                self.path.chmod(0o700)
        except OSError as error:
            raise StateError(
                f"cannot create the state directory: {error.strerror}",
                path=str(self.path),
            ) from None

    # The identity.

    def load_identity(self) -> Identity | None:
        document = self.read_json(IDENTITY_FILE, private=True)
        if document is None:
            return None
        try:
            return Identity.from_json(document)
        except ValueError as error:
            raise StateError(
                f"not a runner identity: {error}", path=str(self.file(IDENTITY_FILE))
            ) from None

    def save_identity(self, identity: Identity) -> None:
        self.write_json(IDENTITY_FILE, identity.to_json(show_secrets=True))

    def forget_identity(self) -> None:
        self.remove(IDENTITY_FILE)

    # The agent's memory of what it asked for.

    def load_intent(self) -> Intent:
        document = self.read_json(INTENT_FILE)
        return Intent.from_json(document) if document else Intent()

    def save_intent(self, intent: Intent) -> None:
        self.write_json(INTENT_FILE, intent.to_json())

    def update_intent(self, change: Callable[[Intent], None]) -> Intent:
        """Apply ``change`` to the intent record under the directory's lock.

        The daemon's cordon on stop and an operator's drain may overlap;
        without the lock one could write over the other. The file is only
        rewritten when ``change`` changed something.
        """
        with self.lock():
            intent = self.load_intent()
            before = intent.to_json()
            change(intent)
            if intent.to_json() != before:
                self.save_intent(intent)
        return intent

    # Plain files.

    def file(self, name: str) -> Path:
        return self.path / name

    def read_json(self, name: str, *, private: bool = False) -> dict[str, Any] | None:
        """Read a JSON object; None when the file does not exist."""
        path = self.file(name)
        try:
            with path.open("rb") as handle:
                mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StateError(
                f"cannot read it: {error.strerror}", path=str(path)
            ) from None
        if private and mode & 0o077:
            raise StateError(
                f"it holds a key but others may read it (mode {mode:04o}); "
                f"run chmod 600 {path}",
                path=str(path),
            )
        try:
            document = json.loads(data)
        except ValueError:
            raise StateError("it is not valid JSON", path=str(path)) from None
        if not isinstance(document, dict):
            raise StateError("it is not a JSON object", path=str(path))
        return document

    def write_json(self, name: str, document: Mapping[str, Any]) -> None:
        """Replace ``name`` atomically with ``document``, mode 0600."""
        self.ensure()
        path = self.file(name)
        temporary = self.path / f".{name}.{os.getpid()}.tmp"
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                self._hand_over(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, path)
            self._sync_directory()
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise StateError(
                f"cannot write it: {error.strerror}", path=str(path)
            ) from None

    def remove(self, name: str) -> None:
        try:
            self.file(name).unlink()
        except FileNotFoundError:
            return
        except OSError as error:
            raise StateError(
                f"cannot remove it: {error.strerror}", path=str(self.file(name))
            ) from None
        self._sync_directory()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's advisory lock (blocking) for a change."""
        self.ensure()
        path = self.file(LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StateError(f"cannot lock: {error.strerror}", path=str(path)) from None
        try:
            self._hand_over(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _hand_over(self, fd: int) -> None:
        """Give a file root creates to the directory's owner.

        An operator running a command with sudo must not leave files the
        service's own user can no longer read.
        """
        if os.geteuid() != 0:
            return
        owner = self.path.stat()
        if owner.st_uid != 0:
            os.fchown(fd, owner.st_uid, owner.st_gid)

    def _sync_directory(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
