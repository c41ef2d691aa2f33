"""Runners created from this machine, and where their one-time keys go.

The control plane shows a new runner's key once, in the answer to the
create. The REST adapter and the MCP server both create runners through
:meth:`CreatedRunnerKeys.create`, which refuses before the create when the
key could not be written down, and says which runner is orphaned when the
key is lost after it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

from runner_agent.client import RunnersClient
from runner_agent.errors import StateError
from runner_agent.models import CreatedRunner
from runner_agent.state import Identity, StateDir, utc_now

__all__ = ["CREATED_RUNNERS_DIR", "CreatedRunnerKeys", "created_runner_json"]

CREATED_RUNNERS_DIR: Final = "created-runners"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


class CreatedRunnerKeys:
    """Where the one-time key of a runner created here is kept.

    Each file is ``<state_dir>/created-runners/<id>.json``, mode 0600, in the
    format of ``identity.json``: installed as that file in the state
    directory of the host that is to run the runner, it is its identity.
    """

    def __init__(self, state_dir: Path) -> None:
        self.store = StateDir(Path(state_dir) / CREATED_RUNNERS_DIR)

    def create(
        self,
        client: RunnersClient,
        *,
        region_id: str,
        name: str,
        tags: list[str] | None,
        sandbox_class: str | None,
        api_url: str,
    ) -> tuple[CreatedRunner, Path]:
        """Create a runner and keep its key; the runner and the key's file.

        Raises StateError when the key could not be kept: before the
        create (no runner was made) or after it (the runner exists and its
        key is lost; the message names it).
        """
        try:
            self.check_writable()
        except StateError as error:
            raise StateError(
                f"the runner was not created: its key could not be kept: {error}"
            ) from None

        created = client.create_runner(
            region_id=region_id, name=name, tags=tags, sandbox_class=sandbox_class
        )
        try:
            path = self.keep(created, name=name, region_id=region_id, api_url=api_url)
        except StateError as error:
            raise StateError(
                f"runner {created.id} was created but its key could not be kept "
                f"({error}); the key is lost: cordon and delete that runner, "
                "then create it again"
            ) from error

        return created, path

    def check_writable(self) -> None:
        """Fail before a create, not after it, when the key could not be kept."""
        self.store.ensure()
        if not os.access(self.store.path, os.W_OK | os.X_OK):
            raise StateError(
                "cannot write the keys of new runners here", path=str(self.store.path)
            )

    def keep(
        self, created: CreatedRunner, *, name: str, region_id: str, api_url: str
    ) -> Path:
        """Write the new runner's identity to ``<id>.json``; its path."""
        if not _SAFE_ID.match(created.id):
            raise StateError(f"the new runner's id {created.id!r} is not a file name")
        identity = Identity(
            runner_id=created.id,
            token=created.api_key,
            name=name,
            region_id=region_id,
            api_url=api_url,
            registered_at=utc_now(),
        )
        name_on_disk = f"{created.id}.json"
        self.store.write_json(name_on_disk, identity.to_json(show_secrets=True))

        return self.store.file(name_on_disk)


def created_runner_json(
    created: CreatedRunner, key_file: Path, *, show_secrets: bool = False
) -> dict[str, Any]:
    """The answer to a create: the key masked, and where it was written."""
    key = created.api_key
    return {
        "id": created.id,
        "apiKey": key.reveal() if show_secrets else key.masked,
        "keyFile": str(key_file),
        "note": (
            "The control plane shows a runner's key once. It was written to "
            "keyFile (mode 0600); install that file as identity.json in the "
            "state directory of the host that will run this runner."
        ),
    }
