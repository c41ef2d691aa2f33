"""The effective configuration, as typed and frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runner_agent.config import values
from runner_agent.config.checks import CheckConfig
from runner_agent.credentials import Credentials, Secret

OnStop = Literal["none", "cordon", "drain"]
LogFormat = Literal["auto", "json", "console"]
OriginKind = Literal["default", "file", "env", "flag", "credential"]


@dataclass(frozen=True)
class Origin:
    """Where a configuration value came from."""

    kind: OriginKind
    where: str = ""

    def __str__(self) -> str:
        if self.kind == "default":
            return "default"
        if self.kind == "file":
            return self.where
        return f"{self.kind} {self.where}"


DEFAULT = Origin("default")


@dataclass(frozen=True)
class RunnerConfig:
    """What ``register`` creates and what healthchecks report about it."""

    name: str = ""
    region_id: str = ""
    tags: tuple[str, ...] = ()
    sandbox_class: str = "container"
    domain: str = ""
    api_url: str = ""
    proxy_url: str = ""


@dataclass(frozen=True)
class HealthcheckConfig:
    """How often and how patiently the healthcheck is sent."""

    interval: float = 10.0
    timeout: float = 5.0
    disk_path: str = ""
    proc_path: str = "/proc"
    jitter: float = 0.1
    auth_retry_interval: float = 300.0
    cpu_sample_interval: float = 5.0
    cpu_window: int = 60


@dataclass(frozen=True)
class DockerConfig:
    """Where the Docker Engine listens and how its figures are refreshed."""

    socket: str = "/var/run/docker.sock"
    sandbox_label: str = ""
    refresh_interval: float = 10.0
    timeout: float = 5.0
    required: bool = False


@dataclass(frozen=True)
class WatchConfig:
    """How often the runner's own record is read back."""

    interval: float = 30.0


@dataclass(frozen=True)
class HooksConfig:
    """Commands run on events, with the event in their environment."""

    on_state_change: tuple[str, ...] = ()
    on_decommissioned: tuple[str, ...] = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class LocalApiConfig:
    """The local HTTP endpoint of ``run``; ``address`` None turns it off.

    ``rest`` mounts the REST adapter under ``/v1``; ``token`` is the bearer
    token its mutating routes (and any route beyond loopback) require.
    """

    address: tuple[str, int] | None = ("127.0.0.1", 9713)
    rest: bool = False
    token: Secret | None = None

    @property
    def listen(self) -> str:
        if self.address is None:
            return ""
        return values.host_port(*self.address)


@dataclass(frozen=True)
class LifecycleConfig:
    """What the daemon does on start and on stop."""

    register_on_start: bool = True
    on_stop: OnStop = "none"
    stop_timeout: float = 30.0
    drain_timeout: float = 900.0
    exit_when_decommissioned: bool = False
    exit_when_deleted: bool = True


@dataclass(frozen=True)
class Config:
    """The whole effective configuration of one agent process."""

    api_url: str = "https://app.daytona.io/api"
    organization_id: str = ""
    state_dir: Path = Path("/var/lib/runner-agent")
    ca_bundle: str = ""
    log_level: str = "info"
    log_format: LogFormat = "auto"
    credentials: Credentials = field(default_factory=Credentials)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    healthcheck: HealthcheckConfig = field(default_factory=HealthcheckConfig)
    local_api: LocalApiConfig = field(default_factory=LocalApiConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    docker: DockerConfig = field(default_factory=DockerConfig)
    checks: tuple[CheckConfig, ...] = ()
    path: Path | None = None
    origins: dict[str, Origin] = field(default_factory=dict, compare=False)

    def origin(self, key: str) -> Origin:
        """Where the value of the dotted ``key`` came from."""
        return self.origins.get(key, DEFAULT)
