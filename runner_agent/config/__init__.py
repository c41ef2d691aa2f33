"""The agent's configuration: keys, sources and the effective values.

Use :func:`load_config`; it returns a frozen :class:`Config` or raises
:class:`~runner_agent.errors.ConfigError` naming the key, where its value
came from and what is wrong.
"""

from runner_agent.config.loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    FlagValue,
    load_config,
)
from runner_agent.config.model import (
    Config,
    DockerConfig,
    HealthcheckConfig,
    HooksConfig,
    LifecycleConfig,
    LocalApiConfig,
    Origin,
    RunnerConfig,
    WatchConfig,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "Config",
    "DockerConfig",
    "FlagValue",
    "HealthcheckConfig",
    "HooksConfig",
    "LifecycleConfig",
    "LocalApiConfig",
    "Origin",
    "RunnerConfig",
    "WatchConfig",
    "load_config",
]
