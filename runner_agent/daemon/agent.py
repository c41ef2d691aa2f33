"""The daemon: start, beat, watch, serve, reload, stop.

:class:`Daemon` runs in the main thread. Its jobs run on the scheduler's
threads; the main thread handles signals, reloads the configuration and
does its chores (:mod:`.upkeep`), sleeping until the next one is due.
Signals only set flags and wake it (:mod:`.signals`).

Starting happens in order: the local endpoint is bound (a taken address
must stop the agent before it creates a runner), the identity is obtained,
then the jobs start. Stopping happens in order: tell systemd, carry out
``lifecycle.on_stop`` (the heartbeat keeps beating meanwhile), stop the
scheduler and wait for running jobs, give hooks a moment, close the
endpoint, close the client. A second SIGTERM or SIGINT abandons whatever
is still running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from runner_agent import errors, logs
from runner_agent.collectors import HostMonitor
from runner_agent.config import Config
from runner_agent.context import AgentContext
from runner_agent.daemon.cordon import UndoCordon
from runner_agent.daemon.heartbeat import NO_SUCH_ROUTE, Heartbeat, retry_policy
from runner_agent.daemon.hooks import Hooks
from runner_agent.daemon.reload import apply_reload, warn_about_interval
from runner_agent.daemon.schedule import Scheduler
from runner_agent.daemon.sdnotify import SystemdNotifier
from runner_agent.daemon.signals import RunSignals
from runner_agent.daemon.startup import obtain_identity, wrong_api_url
from runner_agent.daemon.status import AgentStatus, BeatRecord
from runner_agent.daemon.stopping import StopAction
from runner_agent.daemon.upkeep import Upkeep
from runner_agent.daemon.watch import StateWatch
from runner_agent.payload import healthcheck_body
from runner_agent.state import Identity

if TYPE_CHECKING:
    from runner_agent.daemon.endpoint_server import EndpointServer
    from runner_agent.daemon.telemetry import Telemetry

log = structlog.get_logger(__name__)

HEARTBEAT = "healthcheck"
WATCH = "state-watch"
UNDO_CORDON = "undo-cordon"


class Daemon:
    """One run of ``runner-agent run``."""

    def __init__(
        self,
        config: Config,
        *,
        reload_config: Callable[[], Config] | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.reload_config = reload_config
        self.notifier = notifier or SystemdNotifier()
        self.context = AgentContext(config)
        self.status = AgentStatus(interval=config.healthcheck.interval)
        self.hooks = Hooks(config.hooks)
        self.scheduler = Scheduler()
        self.monitor: HostMonitor | None = None
        self.heartbeat: Heartbeat | None = None
        self.watch: StateWatch | None = None
        self.server: EndpointServer | None = None
        self.exit_code = errors.EXIT_OK
        self.started = threading.Event()
        self.signals = RunSignals()
        # A stop was asked for; a second one was (abandon what still runs).
        self.stop_requested = self.signals.stop_requested
        self.force_exit = self.signals.force_exit
        self.upkeep = Upkeep(self.scheduler, self.notifier, HEARTBEAT)
        self._telemetry: Telemetry | None = None
        self._deleted = False
        self._fatal: errors.RunnerAgentError | None = None
        self._once_lock = threading.Lock()
        self._skip_stop_action = False

    @property
    def config(self) -> Config:
        """The configuration in force: the context's, which a reload replaces."""
        return self.context.config

    @config.setter
    def config(self, config: Config) -> None:
        self.context.config = config

    # Lifecycle of the whole process.

    def run(self) -> int:
        """Run until stopped; return the exit code."""
        self.signals.install()
        try:
            self._start_local_api()
            identity = obtain_identity(
                self.context, should_stop=self.stop_requested.is_set, sleep=self._idle
            )
            if identity is not None and not self.stop_requested.is_set():
                self._start(identity)
                self._loop()
            if self._fatal is not None:
                raise self._fatal
        except errors.RunnerAgentError as error:
            # Reported once, by the command line; the stop below stays quiet.
            self.exit_code = error.exit_code
            raise
        finally:
            self._stop()
            self.signals.restore()
        return self.exit_code

    def request_exit(
        self, code: int = errors.EXIT_OK, *, skip_stop_action: bool = False
    ) -> None:
        """Ask the main loop to stop (from any thread)."""
        self.exit_code = code
        self._skip_stop_action = self._skip_stop_action or skip_stop_action
        self.signals.request_stop()

    def _start(self, identity: Identity) -> None:
        config = self.config
        self.status.identity = identity
        self.status.intent = self.context.state.load_intent()
        # Every later line, from any thread, says which runner it is about.
        logs.bind_process(runner_id=identity.runner_id)
        log.info(
            "agent_started",
            runner_id=identity.runner_id,
            name=identity.name,
            api_url=config.api_url,
            interval_seconds=config.healthcheck.interval,
        )
        warn_about_interval(config)
        if self.server is not None:
            log.info("local_api_listening", url=self.server.url)

        self.monitor = HostMonitor(config)
        self.status.host_report = self.monitor.local_report
        for job in self.monitor.jobs():
            self.scheduler.add_periodic(job)

        telemetry = self._telemetry
        self.heartbeat = Heartbeat(
            self.context.client,
            lambda: healthcheck_body(self.config.runner, self._monitor(), identity),
            self.status,
            retry_policy(config.healthcheck.interval, config.healthcheck),
            timeout=config.healthcheck.timeout,
            on_beat=self._after_beat
            if telemetry is None
            else _chain(telemetry.observe_beat, self._after_beat),
        )
        self.watch = StateWatch(
            self.context.client,
            self.status,
            self.hooks,
            retry_policy(config.watch.interval, config.healthcheck),
            on_deleted=self._runner_deleted,
            on_decommissioned=self._runner_decommissioned,
            on_wrong_route=self._api_url_wrong,
            on_request=None if telemetry is None else telemetry.observe_request,
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
            undo = UndoCordon(
                self.context,
                identity.runner_id,
                on_done=self._agent_cordon_undone,
                on_wrong_route=self._api_url_wrong,
            )
            self.scheduler.add_self_paced(
                UNDO_CORDON, undo.run, fallback_interval=undo.policy.interval
            )
        self.scheduler.start()
        self.started.set()

    def _loop(self) -> None:
        while not self.stop_requested.is_set():
            if self.signals.take_reload():
                self._reload()
            self._sleep(self.upkeep.run(self.config))

    def _stop(self) -> None:
        self.status.set_mode("stopping")
        self.notifier.stopping("stopping")
        identity = self.status.identity
        if (
            identity is not None
            and not self._skip_stop_action
            and self.started.is_set()
        ):
            StopAction(
                self.context, self.status, self.notifier, identity.runner_id
            ).carry_out(
                wait=self._sleep, forced=self.force_exit.is_set, wake=self.signals.wake
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
        logs.unbind_process("runner_id")
        self.notifier.close()
        self.signals.close()

    # Jobs.

    def _beat(self) -> float | None:
        assert self.heartbeat is not None
        first = self.status.last_beat is None
        outcome = self.heartbeat.beat()
        if outcome.result == "deleted":
            self._runner_deleted()
            return None
        if outcome.result == NO_SUCH_ROUTE:
            assert isinstance(outcome.error, errors.NoSuchRouteError)
            self._api_url_wrong(outcome.error)
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

    def _agent_cordon_undone(self) -> None:
        self.status.intent = self.context.state.load_intent()
        self.scheduler.remove(UNDO_CORDON)

    def _runner_deleted(self) -> None:
        """Both the heartbeat and the watch may find out; act once."""
        with self._once_lock:
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

    def _api_url_wrong(self, error: errors.NoSuchRouteError) -> None:
        """Stop: no request can work; the command line says why, once."""
        fatal = wrong_api_url(self.config, error)
        with self._once_lock:
            if self._fatal is not None:
                return
            self._fatal = fatal
        self.scheduler.remove(HEARTBEAT)
        self.request_exit(fatal.exit_code, skip_stop_action=True)

    def _runner_decommissioned(self) -> None:
        if self.config.lifecycle.exit_when_decommissioned:
            log.info("exiting_when_decommissioned")
            self.request_exit(errors.EXIT_OK, skip_stop_action=True)

    def _monitor(self) -> HostMonitor:
        assert self.monitor is not None
        return self.monitor

    # The main thread.

    def _start_local_api(self) -> None:
        if self.config.local_api.address is None:
            return
        # Imported only when on: the server and the metrics cost memory.
        from runner_agent.daemon.local_api import start_local_api

        endpoint = start_local_api(self.context, self.status)
        if endpoint is not None:
            self.server, self._telemetry = endpoint.server, endpoint.telemetry

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
        apply_reload(self, new)

    def _idle(self, seconds: float) -> None:
        """Wait ``seconds`` (less on a stop), doing the main loop's chores."""
        deadline = time.monotonic() + seconds
        while not self.stop_requested.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._sleep(min(remaining, self.upkeep.run(self.config)))

    def _sleep(self, seconds: float) -> None:
        """Sleep in the main thread, saying when it will be back (``/healthz``)."""
        self.status.tick(seconds)
        self.signals.sleep(seconds)


def _chain(*callbacks: Callable[[BeatRecord], None]) -> Callable[[BeatRecord], None]:
    def call_all(record: BeatRecord) -> None:
        for callback in callbacks:
            callback(record)

    return call_all
