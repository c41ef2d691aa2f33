"""``runner-agent runners watch``: the fleet table, refreshed on a timer.

A refresh that fails for a reason that may pass (the control plane out of
reach or unwell, a 429) is reported on standard error and the watch goes
on; a refused key stops it at once, because retrying a refused key only
gets it locked out. With ``--count``, a watch none of whose refreshes
succeeded exits with the code of the last failure (3 out of reach).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runner_agent.cli.common import ApiUrl, ConfigPath, Json, LogLevel, duration_option
from runner_agent.cli.fleet import RegionId, fleet_client, fleet_table, server_now

if TYPE_CHECKING:
    from runner_agent.client import RunnersClient
    from runner_agent.errors import ApiError

# Faster refreshes would only load the control plane.
MIN_INTERVAL = 0.1


def watch(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    log_level: LogLevel = None,
    region_id: RegionId = None,
    interval: Annotated[
        str,
        typer.Option(help="Time between refreshes: seconds, or 500ms, 2s, 1m."),
    ] = "5s",
    count: Annotated[
        int | None,
        typer.Option(help="Stop after this many refreshes.", min=1, show_default=False),
    ] = None,
    json_output: Json = False,
) -> None:
    """Watch the fleet: a table refreshed every few seconds until Ctrl-C.

    On a terminal the table is redrawn in place; otherwise a new table is
    printed on each refresh (with --json, one JSON document a line). A
    failed refresh is reported on standard error and the watch goes on; a
    refused key stops it (exit 4). With --count, when no refresh
    succeeded, the exit code is that of the last failure (3: unreachable).

    Example: runner-agent runners watch --interval 2s
    """
    every = watch_interval(interval)
    with fleet_client(config_path, api_url, log_level) as client:
        view = FleetWatch(client, region_id, every, json_output=json_output)
        failure = view.run(count)

    if failure is not None:
        raise typer.Exit(failure.exit_code)


def watch_interval(value: str) -> float:
    """The ``--interval`` in seconds; too short or unreadable is a usage error."""
    from runner_agent.errors import UsageError

    seconds = duration_option("--interval", value)
    if seconds < MIN_INTERVAL:
        raise UsageError(f"--interval: {value!r} is shorter than 100ms")
    return seconds


class FleetWatch:
    """The fleet on a timer: redrawn in place on a terminal, appended elsewhere.

    ``last_failure`` is the error of the latest failed refresh, and
    ``succeeded`` whether any refresh has succeeded so far.
    """

    def __init__(
        self,
        client: RunnersClient,
        region_id: str | None,
        interval: float,
        *,
        json_output: bool,
    ) -> None:
        self.client = client
        self.region_id = region_id
        self.interval = interval
        self.json_output = json_output
        self.redraw = sys.stdout.isatty() and not json_output
        self.last_table = ""
        self.last_failure: ApiError | None = None
        self.succeeded = False
        self._pause = interval

    def run(self, count: int | None) -> ApiError | None:
        """Refresh ``count`` times (for ever when None, until Ctrl-C).

        Returns the last failure when no refresh succeeded, else None.
        """
        done = 0
        try:
            while count is None or done < count:
                if done:
                    time.sleep(self._pause)
                self.refresh()
                done += 1
        except KeyboardInterrupt:
            # Ctrl-C is how a watch ends: not an error.
            if self.redraw:
                sys.stdout.write("\n")
            return None
        return None if self.succeeded else self.last_failure

    def refresh(self) -> None:
        from runner_agent.errors import RateLimitedError, ServerError, TransportError

        at = datetime.now(UTC)
        self._pause = self.interval
        try:
            runners = self.client.list_runners(self.region_id)
        except (TransportError, ServerError, RateLimitedError) as error:
            self.last_failure = error
            if isinstance(error, RateLimitedError) and error.retry_after:
                # The control plane said when to come back; sooner would be
                # refused again.
                self._pause = max(self.interval, error.retry_after)
            self._show_failure(at, error)
            return

        self.succeeded = True
        if self.json_output:
            self._line({"at": _iso(at), "runners": [r.to_json() for r in runners]})
            return
        self.last_table = fleet_table(runners, server_now(self.client))
        count = f"{len(runners)} runner{'' if len(runners) == 1 else 's'}"
        self._screen(f"{count} at {_clock(at)}, every {self.interval:g}s")

    def _show_failure(self, at: datetime, error: ApiError) -> None:
        # Standard error, so a --json stream on standard output stays clean.
        later = f"; next in {self._pause:g}s" if self._pause > self.interval else ""
        sys.stdout.flush()
        sys.stderr.write(f"refresh failed at {_clock(at)}: {error}{later}\n")
        sys.stderr.flush()

    def _screen(self, header: str) -> None:
        if self.redraw:
            # Home the cursor and clear the screen, then draw.
            text = f"\x1b[H\x1b[2J{header} (Ctrl-C to stop)\n{self.last_table}\n"
        else:
            text = f"{header}\n{self.last_table}\n\n"
        sys.stdout.write(text)
        sys.stdout.flush()

    def _line(self, document: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
        sys.stdout.flush()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")
