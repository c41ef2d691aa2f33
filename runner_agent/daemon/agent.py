"""The daemon: start, beat, watch, serve, reload, stop.

:class:`Daemon` runs in the main thread. Its jobs run on the scheduler's
threads; the main thread only ticks once a second to handle signals, reload
the configuration, feed the systemd watchdog and pull forward any job that a
wall-clock step stranded. Signals only set flags and wake the loop.

Stopping happens in order: tell systemd, carry out ``lifecycle.on_stop``
(the heartbeat keeps beating meanwhile), stop the scheduler and wait for
running jobs, give hooks a moment, close the endpoint, close the client. A
second SIGTERM or SIGINT abandons whatever is still running.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

from runner_agent import errors, logs
from runner_agent.collectors import HostMonitor
from runner_agent.config import Config
from runner_agent.context import AgentContext
from runner_agent.daemon.heartbeat import BeatPolicy, Heartbeat
from runner_agent.daemon.hooks import Hooks
from runner_agent.daemon.schedule import Scheduler
from runner_agent.daemon.sdnotify import SystemdNotifier
from runner_agent.daemon.startup import obtain_identity
from runner_agent.daemon.status import AgentStatus, BeatRecord
from runner_agent.daemon.stopping import run_stop_action, undo_agent_cordon
from runner_agent.daemon.waker import Waker
from runner_agent.daemon.watch import StateWatch
from runner_agent.payload import healthcheck_body
from runner_agent.state import Identity

log = structlog.get_logger(__name__)

TICK = 1.0
HEARTBEAT = "healthcheck"
WATCH = "state-watch"
UNDO_CORDON = "undo-cordon"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Daemon:
    """One run of ``runner-agent run``."""

    def __init__(
        self,
        config: Config,
        *,
        reload_config: Callable[[], Config] | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.config = config
        self.reload_config = reload_config
        self.notifier = notifier or SystemdNotifier()
        self.context = AgentContext(config)
        self.status = AgentStatus(interval=config.healthcheck.interval)
        self.hooks = Hooks(config.hooks)
        self.scheduler = Scheduler()
        self.monitor: HostMonitor | None = None
        self.heartbeat: Heartbeat | None = None
        self.watch: StateWatch | None = None
        self.server: Any = None
        self.exit_code = errors.EXIT_OK
        self.started = threading.Event()
        # A stop was asked for; a second one was (abandon what still runs).
        # Only normal code sets these events: signal handlers set the plain
        # flags below and wake the main thread, which then sets the events.
        self.stop_requested = threading.Event()
        self.force_exit = threading.Event()
        self._stop_signalled = False
        self._force_signalled = False
        self._reload_requested = False
        self._waker = Waker()
        self._deleted = False
        self._deleted_lock = threading.Lock()
        self._skip_stop_action = False
        self._previous_handlers: dict[int, Any] = {}
        self._last_watchdog = 0.0

    # Lifecycle of the whole process.

    def run(self) -> int:
        """Run until stopped; return the exit code."""
        self._install_signal_handlers()
        try:
            identity = obtain_identity(
                self.context, should_stop=self.stop_requested.is_set, sleep=self._sleep
            )
            if identity is not None and not self.stop_requested.is_set():
                self._start(identity)
                self._loop()
        except errors.RunnerAgentError as error:
            # Reported once, by the command line; the stop below stays quiet.
            self.exit_code = error.exit_code
            raise
        finally:
            self._stop()
            self._restore_signal_handlers()
        return self.exit_code

    def request_exit(
        self, code: int = errors.EXIT_OK, *, skip_stop_action: bool = False
    ) -> None:
        """Ask the main loop to stop (from any thread)."""
        self.exit_code = code
        self._skip_stop_action = self._skip_stop_action or skip_stop_action
        self.stop_requested.set()
        self._waker.wake()

    def _start(self, identity: Identity) -> None:
        config = self.config
        self.status.identity = identity
        self.status.intent = self.context.state.load_intent()
        logs.bind_context(runner_id=identity.runner_id)
        log.info(
            "agent_started",
            runner_id=identity.runner_id,
            name=identity.name,
            api_url=config.api_url,
            interval_seconds=config.healthcheck.interval,
        )
        self._warn_about_interval()

        self.monitor = HostMonitor(config)
        self.status.host_report = self.monitor.local_report
        for job in self.monitor.jobs():
            self.scheduler.add_periodic(job)
        telemetry = self._start_local_api()

        self.heartbeat = Heartbeat(
            self.context.client,
            lambda: healthcheck_body(self.config.runner, self._monitor()),
            self.status,
            _policy(config),
            timeout=config.healthcheck.timeout,
            on_beat=self._after_beat
            if telemetry is None
            else _chain(telemetry.observe_beat, self._after_beat),
        )
        self.watch = StateWatch(
            self.context.client,
            self.status,
            self.hooks,
            interval=config.watch.interval,
            auth_interval=config.healthcheck.auth_retry_interval,
            on_deleted=self._runner_deleted,
            on_decommissioned=self._runner_decommissioned,
        )
        self.scheduler.add_self_paced(
            HEARTBEAT,
            self._beat,
            # Only a safety net: each beat sets the next one itself. It must
            # not fall due while a slow beat is still running.
            fallback_interval=2 * config.healthcheck.interval
            + config.healthcheck.timeout,
        )
        # The runner's state is read once before the first beat, so that the
        # change that beat brings about (initializing to ready) is seen.
        first_read = self.watch.poll()
        self.scheduler.add_self_paced(
            WATCH,
            self.watch.poll,
            fallback_interval=config.watch.interval,
            first=config.watch.interval if first_read is None else first_read,
        )
        if self.status.intent.cordoned_by_agent:
            self.scheduler.add_self_paced(
                UNDO_CORDON, self._undo_cordon, fallback_interval=30.0
            )
        self.scheduler.start()
        self.started.set()

    def _loop(self) -> None:
        while not self.stop_requested.is_set():
            self.status.tick()
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            self._pull_forward_stranded_jobs()
            self._feed_watchdog()
            self._sleep(TICK)

    def _stop(self) -> None:
        self.status.set_mode("stopping")
        self.notifier.stopping("stopping")
        identity = self.status.identity
        if (
            identity is not None
            and not self._skip_stop_action
            and self.started.is_set()
        ):
            run_stop_action(
                self.context,
                self.status,
                self.notifier,
                identity.runner_id,
                abandoned=self.force_exit.is_set,
                sleep=self._sleep,
            )
        self.scheduler.shutdown(wait=not self.force_exit.is_set())
        self.hooks.wait(0 if self.force_exit.is_set() else 5.0)
        if self.server is not None:
            self.server.stop()
        if self.monitor is not None:
            self.monitor.close()
        self.context.close()
        if self.started.is_set():
            log.info("agent_stopped", exit_code=self.exit_code)
        self.notifier.close()
        self._waker.close()

    # Jobs.

    def _beat(self) -> float | None:
        assert self.heartbeat is not None
        first = self.status.last_beat is None
        outcome = self.heartbeat.beat()
        if outcome.result == "deleted":
            self._runner_deleted()
            return None
        if first and outcome.result == "accepted":
            # The fleet spreads out: after the beat at start, a random offset.
            return self.heartbeat.policy.first_offset()
        return outcome.delay

    def _after_beat(self, record: BeatRecord) -> None:
        if not record.accepted:
            self.notifier.status(f"healthcheck failing: {record.result}")
            return
        if self.status.results["accepted"] == 1:
            self.notifier.ready("first healthcheck accepted")
            # Read the runner back at once so its new state shows quickly.
            self.scheduler.reschedule(WATCH, 0)
        runner = self.status.runner
        state = runner.state if runner else "unknown"
        self.notifier.status(
            f"healthcheck accepted in {record.latency_ms:.0f} ms; runner {state}"
        )

    def _undo_cordon(self) -> float | None:
        identity = self.status.identity
        if identity is None or undo_agent_cordon(self.context, identity.runner_id):
            self.status.intent = self.context.state.load_intent()
            self.scheduler.remove(UNDO_CORDON)
            return None
        return 30.0

    def _runner_deleted(self) -> None:
        """Both the heartbeat and the watch may find out; act once."""
        with self._deleted_lock:
            if self._deleted:
                return
            self._deleted = True
        self.status.set_mode("deleted")
        log.error(
            "runner_deleted",
            runner_id=self.status.identity.runner_id if self.status.identity else "",
            hint="register again with runner-agent register --force",
        )
        self.scheduler.remove(HEARTBEAT)
        if self.config.lifecycle.exit_when_deleted:
            self.request_exit(errors.EXIT_NOT_FOUND, skip_stop_action=True)

    def _runner_decommissioned(self) -> None:
        if self.config.lifecycle.exit_when_decommissioned:
            log.info("exiting_when_decommissioned")
            self.request_exit(errors.EXIT_OK, skip_stop_action=True)

    def _monitor(self) -> HostMonitor:
        assert self.monitor is not None
        return self.monitor

    # Main-loop chores.

    def _pull_forward_stranded_jobs(self) -> None:
        grace = max(5.0, 2 * self.config.healthcheck.interval)
        for name in self.scheduler.overdue(grace):
            log.warning("job_stranded", job=name, hint="the wall clock moved")
            self.scheduler.reschedule(name, 0)

    def _feed_watchdog(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None or not self.status.healthcheck_fresh():
            return
        now = time.monotonic()
        if now - self._last_watchdog >= min(interval, TICK * 5):
            self._last_watchdog = now
            self.notifier.watchdog()

    def _start_local_api(self) -> Any:
        address = self.config.local_api.address
        if address is None:
            return None
        from runner_agent.daemon.local_api import LocalApi
        from runner_agent.daemon.telemetry import Telemetry
        from runner_agent.httpserver import serve_in_thread

        telemetry = Telemetry(self.status)
        mounts = {}
        if self.config.local_api.rest:
            from runner_agent.rest_adapter import build_rest_app

            mounts["/v1"] = build_rest_app(self.context)
        host, port = address
        try:
            self.server = serve_in_thread(
                LocalApi(self.status, telemetry, mounts=mounts),
                host=host,
                port=port,
                threads=2,
                name="local-api",
            )
        except OSError as error:
            raise errors.ConfigError(
                f"cannot listen on {self.config.local_api.listen}: {error.strerror}",
                key="local_api.listen",
                origin=str(self.config.origin("local_api.listen")),
            ) from None
        log.info("local_api_listening", url=self.server.url)
        return telemetry

    def _warn_about_interval(self) -> None:
        interval = self.config.healthcheck.interval
        if interval * 3 > 60:
            log.warning(
                "interval_too_long",
                interval_seconds=interval,
                hint="the control plane marks a runner unresponsive after 60 s "
                "without a healthcheck; keep three beats inside that budget "
                "(an interval of 20 s or less)",
            )

    def _reload(self) -> None:
        if self.reload_config is None:
            return
        try:
            new = self.reload_config()
        except errors.ConfigError as error:
            log.error(
                "config_reload_failed",
                error=str(error),
                kept="the previous configuration",
            )
            return
        from runner_agent.daemon.reload import apply_reload

        apply_reload(self, new)

    # Signals.

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (*_STOP_SIGNALS, signal.SIGHUP):
            self._previous_handlers[sig] = signal.signal(sig, self._handle_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        elif self._stop_signalled or self.stop_requested.is_set():
            # A second stop signal: abandon the stop action and go.
            self._force_signalled = True
        else:
            self._stop_signalled = True
        self._waker.wake()

    def _sleep(self, seconds: float) -> None:
        """Sleep in the main thread, waking early for signals and exits."""
        self._waker.sleep(seconds)
        if self._stop_signalled:
            self.stop_requested.set()
        if self._force_signalled:
            self.force_exit.set()


def _policy(config: Config) -> BeatPolicy:
    return BeatPolicy(
        interval=config.healthcheck.interval,
        jitter=config.healthcheck.jitter,
        auth_interval=config.healthcheck.auth_retry_interval,
    )


def _chain(*callbacks: Callable[[BeatRecord], None]) -> Callable[[BeatRecord], None]:
    def call_all(record: BeatRecord) -> None:
        for callback in callbacks:
            callback(record)

    return call_all
