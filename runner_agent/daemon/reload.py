"""Applying a reloaded configuration (SIGHUP) to the running daemon.

What can change in place does: the healthcheck interval and jitter, the
watch interval, the log level and format, the hooks, the host monitor's
settings, the organization and proxy keys. What shapes the process itself
(the control plane's URL, the state directory, the local endpoint's
address, TLS) keeps its old value until a restart, and the log says so.
The identity is never touched by a reload.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import structlog

from runner_agent import logs
from runner_agent.config import Config

if TYPE_CHECKING:
    from runner_agent.daemon.agent import Daemon

log = structlog.get_logger(__name__)

_RESTART_ONLY = ("api_url", "organization_id", "state_dir", "ca_bundle", "local_api")


def apply_reload(daemon: Daemon, new: Config) -> None:
    old = daemon.config
    needs_restart = [
        key for key in _RESTART_ONLY if getattr(old, key) != getattr(new, key)
    ]
    kept = {key: getattr(old, key) for key in _RESTART_ONLY}
    config = dataclasses.replace(new, **kept)
    daemon.config = config

    logs.configure_logging(config.log_level, config.log_format)
    _apply_timing(daemon, old, config)
    daemon.hooks.config = config.hooks
    if daemon.monitor is not None:
        _replace_monitor_jobs(daemon, config)
    client = daemon.context.client
    client.credentials = config.credentials.with_runner(client.credentials.runner)
    changed = sorted(_changed_sections(old, config))
    log.info("config_reloaded", changed=changed)
    if needs_restart:
        log.warning("config_change_needs_restart", keys=needs_restart)


def _apply_timing(daemon: Daemon, old: Config, new: Config) -> None:
    from runner_agent.daemon.agent import HEARTBEAT, WATCH, _policy

    if daemon.heartbeat is not None and old.healthcheck != new.healthcheck:
        daemon.heartbeat.policy = _policy(new)
        daemon.heartbeat.timeout = new.healthcheck.timeout
        daemon.status.interval = new.healthcheck.interval
        if old.healthcheck.interval != new.healthcheck.interval:
            daemon.scheduler.reschedule(HEARTBEAT, daemon.heartbeat.policy.regular())
    if daemon.watch is not None and old.watch != new.watch:
        daemon.watch.interval = new.watch.interval
        daemon.scheduler.reschedule(WATCH, new.watch.interval)


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
