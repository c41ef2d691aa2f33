"""Applying a reloaded configuration (SIGHUP) to the running daemon.

The new configuration replaces the old one everywhere it is read (the
daemon's, its context's: the stop action, the retry policies, the beat's
body), and what holds a copy is updated: the healthcheck interval, jitter
and timeouts, the watch interval, the log level and format, the hooks, the
host monitor's settings and checks, the organization and proxy keys. What
shapes the process itself (the control plane's URL and organization, the
state directory, TLS, the local endpoint) keeps its old value until a
restart, and the log names each such key that changed. The identity is
never touched by a reload.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import TYPE_CHECKING

import structlog

from runner_agent import logs
from runner_agent.config import Config
from runner_agent.daemon.heartbeat import retry_policy

if TYPE_CHECKING:
    from runner_agent.daemon.agent import Daemon

log = structlog.get_logger(__name__)

# The control plane marks a runner unresponsive after this long without a
# healthcheck; three beats should fit in it.
UNRESPONSIVE_AFTER = 60.0

# Dotted key -> where its value is, for the keys read only at start.
_RESTART_ONLY = {
    "api_url": "api_url",
    "organization_id": "organization_id",
    "state_dir": "state_dir",
    "ca_bundle": "ca_bundle",
    "local_api.listen": "local_api.address",
    "local_api.rest": "local_api.rest",
    "local_api.token": "local_api.token",
}
# The fields of Config they live in, kept whole.
_KEPT = tuple(dict.fromkeys(where.split(".")[0] for where in _RESTART_ONLY.values()))


def warn_about_interval(config: Config) -> None:
    """Warn when three beats do not fit in the control plane's budget."""
    interval = config.healthcheck.interval
    if interval * 3 > UNRESPONSIVE_AFTER:
        log.warning(
            "interval_too_long",
            interval_seconds=interval,
            hint="the control plane marks a runner unresponsive after 60 s "
            "without a healthcheck; keep three beats inside that budget "
            "(an interval of 20 s or less)",
        )


def apply_reload(daemon: Daemon, new: Config) -> None:
    """Make ``new`` the daemon's configuration, but for the restart-only keys."""
    old = daemon.config
    needs_restart = [
        key
        for key, where in _RESTART_ONLY.items()
        if attrgetter(where)(old) != attrgetter(where)(new)
    ]
    config = dataclasses.replace(new, **{key: getattr(old, key) for key in _KEPT})
    daemon.config = config

    logs.configure_logging(config.log_level, config.log_format)
    _apply_timing(daemon, old, config)
    daemon.hooks.config = config.hooks
    if daemon.monitor is not None:
        _replace_monitor_jobs(daemon, config)
    client = daemon.context.client
    client.credentials = config.credentials.with_runner(client.credentials.runner)
    log.info("config_reloaded", changed=sorted(_changed_sections(old, config)))
    warn_about_interval(config)
    if needs_restart:
        log.warning(
            "config_change_needs_restart",
            keys=needs_restart,
            hint="these keep their old values until the agent restarts",
        )


def _apply_timing(daemon: Daemon, old: Config, new: Config) -> None:
    from runner_agent.daemon.agent import HEARTBEAT, WATCH

    daemon.status.interval = new.healthcheck.interval
    heartbeat, watch = daemon.heartbeat, daemon.watch
    if heartbeat is not None and old.healthcheck != new.healthcheck:
        heartbeat.policy = retry_policy(new.healthcheck.interval, new.healthcheck)
        heartbeat.timeout = new.healthcheck.timeout
        # A beat slowed down by a refused key or a 429 keeps its pause.
        steady = daemon.status.mode == "beating"
        if old.healthcheck.interval != new.healthcheck.interval and steady:
            daemon.scheduler.reschedule(HEARTBEAT, heartbeat.policy.regular())
    if watch is not None and (old.watch, old.healthcheck) != (
        new.watch,
        new.healthcheck,
    ):
        watch.policy = retry_policy(new.watch.interval, new.healthcheck)
        if old.watch != new.watch and not watch.failures.failing:
            daemon.scheduler.reschedule(WATCH, watch.policy.regular())


def _replace_monitor_jobs(daemon: Daemon, config: Config) -> None:
    """Reconfigure the monitor and schedule its jobs at their new pace."""
    assert daemon.monitor is not None
    for job in daemon.monitor.jobs():
        daemon.scheduler.remove(job.name)
    daemon.monitor.reconfigure(config)
    for job in daemon.monitor.jobs():
        daemon.scheduler.add_periodic(job)


def _changed_sections(old: Config, new: Config) -> set[str]:
    names = [f.name for f in dataclasses.fields(Config) if f.name != "origins"]
    return {name for name in names if getattr(old, name) != getattr(new, name)}
