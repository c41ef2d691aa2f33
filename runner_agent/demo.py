"""``runner-agent demo``: the whole agent, live, against a local control plane.

The emulator stands in for Daytona's control plane on loopback; the real
daemon registers, beats and watches its runner while a short scenario plays
around it (an operator cordons and uncordons, the control plane hiccups and
recovers). What the daemon logs is shown as it happens, one readable line
per event. Its state lives in a temporary directory that is removed at the
end; Ctrl-C stops everything cleanly. Sample::

    12:00:01  ✔ registered runner demo-laptop (4f0c…)
    12:00:01  ♥ healthcheck accepted   3 ms   cpu 4.0%  mem 41.2%  disk 22.0%
    12:00:02  ◆ control plane: runner ready, schedulable
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import structlog
from structlog.typing import EventDict, WrappedLogger

from runner_agent import logs
from runner_agent.config import (
    Config,
    HealthcheckConfig,
    LifecycleConfig,
    LocalApiConfig,
    RunnerConfig,
    WatchConfig,
)
from runner_agent.credentials import Credentials, Secret
from runner_agent.daemon import Daemon
from runner_agent.emulator import Emulator, EmulatorSettings
from runner_agent.registration import default_runner_name


@dataclass(frozen=True)
class Palette:
    """ANSI styles, or none when the output is not a terminal."""

    enabled: bool

    def paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def dim(self, text: str) -> str:
        return self.paint("2", text)

    def good(self, text: str) -> str:
        return self.paint("32", text)

    def bad(self, text: str) -> str:
        return self.paint("31", text)

    def note(self, text: str) -> str:
        return self.paint("36", text)

    def bold(self, text: str) -> str:
        return self.paint("1", text)


class EventView:
    """Renders the daemon's log events as demo lines (a structlog processor)."""

    def __init__(
        self, out: TextIO, palette: Palette, daemon: Callable[[], Daemon | None]
    ) -> None:
        self.out = out
        self.palette = palette
        self.daemon = daemon
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.lock:
            stamp = self.palette.dim(time.strftime("%H:%M:%S"))
            self.out.write(f"{stamp}  {text}\n")
            self.out.flush()

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> str:
        line = self.describe(event)
        if line:
            self.say(line)
        raise structlog.DropEvent

    def describe(self, event: EventDict) -> str | None:
        """One line for an event worth showing, else None."""
        p = self.palette
        name = event.get("event", "")
        if name == "healthcheck_accepted":
            latency = f"{event.get('latency_ms', 0):>6.1f} ms"
            return f"{p.good('♥')} healthcheck accepted {latency}   {self._usage()}"
        if name == "runner_registered":
            runner = f"{p.bold(event['name'])} ({event['runner_id']})"
            return f"{p.good('✔')} registered runner {runner}"
        if name == "runner_state_seen":
            state = _state(event["state"], event["unschedulable"])
            return f"{p.note('◆')} control plane: runner {state}"
        if name == "runner_state_changed":
            old = _state(event["old_state"], event["old_unschedulable"])
            new = _state(event["new_state"], event["new_unschedulable"])
            return f"{p.note('◆')} control plane: {old} → {p.bold(new)}"
        if name.startswith("operation_"):
            return self._failure_line(name, event)
        if name == "local_api_listening":
            where = f"{event['url']}/status, /readyz, /metrics"
            return f"{p.dim('·')} local endpoint {where}"
        if name in ("runner_cordoned", "runner_uncordoned", "agent_cordon_undone"):
            return f"{p.note('◆')} {name.replace('_', ' ')}"
        if name in ("stop_action_started", "stop_action_done"):
            step = name.rsplit("_", 1)[1]
            return f"{p.dim('·')} on stop: {event['action']} {step}"
        if name == "agent_stopped":
            return f"{p.dim('·')} agent stopped (exit code {event['exit_code']})"
        if event.get("level") in ("warning", "error", "critical"):
            details = logs.event_fields(event)
            details.pop("runner_id", None)
            return f"{p.bad('!')} {name} {details}"
        return None

    def _failure_line(self, name: str, event: EventDict) -> str:
        p = self.palette
        operation = event["operation"]
        if name == "operation_failing":
            reason = f"{event['result']} ({event['error']})"
            return f"{p.bad('✖')} {operation} failing: {reason}"
        if name == "operation_still_failing":
            tries = event["failures"]
            return f"{p.bad('✖')} {operation} still failing after {tries} tries"
        took = f"{event['failures']} failures in {event['after_seconds']} s"
        return f"{p.good('✔')} {operation} recovered after {took}"

    def _usage(self) -> str:
        daemon = self.daemon()
        payload = daemon.status.last_payload if daemon else None
        metrics = (payload or {}).get("metrics", {})
        if not metrics:
            return ""
        return self.palette.dim(
            f"cpu {metrics['currentCpuUsagePercentage']:.1f}%  "
            f"mem {metrics['currentMemoryUsagePercentage']:.1f}%  "
            f"disk {metrics['currentDiskUsagePercentage']:.1f}%"
        )


def _state(state: str, unschedulable: bool) -> str:
    return f"{state}, {'cordoned' if unschedulable else 'schedulable'}"


class Scenario:
    """The story told around the running daemon, step by step."""

    def __init__(
        self, emulator: Emulator, daemon: Daemon, view: EventView, pace: float
    ) -> None:
        self.emulator = emulator
        self.daemon = daemon
        self.view = view
        self.pace = pace
        self.http = httpx.Client(timeout=5.0)

    def play(self, duration: float | None) -> None:
        stop = self.daemon.stop_requested
        started = time.monotonic()
        try:
            if not self._wait_ready(stop):
                return
            self.view.say(
                self.view.palette.good("✔ the runner is ready; an operator steps in:")
            )
            identity = self.daemon.status.identity
            runner_id = identity.runner_id if identity else ""
            steps: list[tuple[float, str, Callable[[], None]]] = [
                (
                    2,
                    "operator cordons the runner (a reversible pause)",
                    lambda: self._schedule(runner_id, True),
                ),
                (3, "operator uncordons it", lambda: self._schedule(runner_id, False)),
                (2, "the control plane answers 503 three times", self._hiccup),
            ]
            for pause, note, action in steps:
                if stop.wait(pause * self.pace):
                    return
                self.view.say(self.view.palette.note(f"» {note}"))
                action()
            if not stop.wait(4 * self.pace):
                self.view.say(
                    self.view.palette.note(
                        "» that's the tour; the agent keeps beating. Ctrl-C stops it."
                    )
                )
            remaining = (
                None if duration is None else duration - (time.monotonic() - started)
            )
            if remaining is not None:
                stop.wait(max(remaining, 0))
                self.daemon.request_exit()
        finally:
            self.http.close()

    def _wait_ready(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            ready, _ = self.daemon.status.readiness()
            if ready:
                return True
            stop.wait(0.1)
        return False

    def _schedule(self, runner_id: str, unschedulable: bool) -> None:
        self.http.patch(
            f"{self.emulator.url}/runners/{runner_id}/scheduling",
            json={"unschedulable": unschedulable},
            headers={"Authorization": f"Bearer {self.emulator.organization_key}"},
        ).raise_for_status()
        self.daemon.scheduler.reschedule("state-watch", 0.2 * self.pace)

    def _hiccup(self) -> None:
        self.http.post(
            f"{self.emulator.control_url}/faults",
            json={
                "method": "POST",
                "path": "/runners/healthcheck",
                "status": 503,
                "count": 3,
            },
        ).raise_for_status()


def demo_config(emulator: Emulator, state_dir: Path, interval: float) -> Config:
    """The agent's configuration for the demo: everything on loopback."""
    return Config(
        api_url=emulator.url,
        state_dir=state_dir,
        log_level="debug",
        credentials=Credentials(organization=Secret(emulator.organization_key)),
        runner=RunnerConfig(
            # A runner name has at most 255 characters.
            name=f"demo-{default_runner_name()}"[:255],
            region_id=emulator.region_id,
            tags=("demo",),
        ),
        healthcheck=HealthcheckConfig(interval=interval, timeout=interval / 2),
        watch=WatchConfig(interval=max(interval / 2, 0.5)),
        local_api=LocalApiConfig(address=("127.0.0.1", 0)),
        lifecycle=LifecycleConfig(on_stop="cordon", stop_timeout=5.0),
    )


def run_demo(interval: float, duration: float | None, out: TextIO | None = None) -> int:
    """Play the demo; return the daemon's exit code."""
    out = out or sys.stdout
    palette = Palette(enabled=out.isatty())
    holder: dict[str, Daemon] = {}
    view = EventView(out, palette, lambda: holder.get("daemon"))
    workdir = Path(tempfile.mkdtemp(prefix="runner-agent-demo-"))
    emulator: Emulator | None = None
    # Everything from here on is undone in the finally, even after a Ctrl-C
    # that lands while the emulator is still starting.
    try:
        emulator = Emulator.start(
            EmulatorSettings(
                check_interval=min(1.0, interval),
                unresponsive_after=max(6.0, 4 * interval),
            )
        )
        _banner(view, emulator, workdir)
        logs.configure_logging("debug", renderer=view)
        daemon = Daemon(demo_config(emulator, workdir / "state", interval))
        holder["daemon"] = daemon
        scenario = Scenario(emulator, daemon, view, pace=interval / 2)
        narrator = threading.Thread(
            target=scenario.play, args=(duration,), name="demo", daemon=True
        )
        narrator.start()
        code = daemon.run()
        narrator.join(timeout=5)
    finally:
        logs.reset_renderer()
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    view.say(f"{palette.good('✔')} demo over: emulator stopped, {workdir} removed")
    return code


def _banner(view: EventView, emulator: Emulator, workdir: Path) -> None:
    p = view.palette
    for line in (
        p.bold("runner-agent demo") + " — the agent against a local control plane",
        f"  control plane  {emulator.url} (emulator)",
        f"  region         {emulator.region_id}",
        f"  state          {workdir}",
        "  stop           Ctrl-C",
        "",
    ):
        view.out.write(line + "\n")
    view.out.flush()
