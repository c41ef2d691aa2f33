"""Every configuration key: its parser, default and environment variable.

The table below is the single list of keys the agent understands; the file
loader refuses any other key so that a typo is an error at start, not a
setting silently ignored for months.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner_agent.config import values
from runner_agent.config.checks import parse_checks
from runner_agent.credentials import Role


@dataclass(frozen=True)
class Setting:
    """One plain configuration key."""

    key: str
    parse: Callable[[Any], Any]
    default: Any
    env: str | None = None


@dataclass(frozen=True)
class SecretSetting:
    """A key that may be given inline, as a file, or as a systemd credential.

    ``key`` holds the value itself and ``key_file`` a path to it; the
    environment offers both forms too (``env`` and ``env`` + ``_FILE``).
    ``credential`` is the name looked up in ``$CREDENTIALS_DIRECTORY``.
    ``role`` is the API role the key serves; None for a key of the agent's own.
    """

    key: str
    env: str
    credential: str
    role: Role | None = None

    @property
    def file_key(self) -> str:
        return f"{self.key}_file"

    @property
    def file_env(self) -> str:
        return f"{self.env}_FILE"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "api_url", values.http_url, "https://app.daytona.io/api", "DAYTONA_API_URL"
    ),
    Setting("organization_id", values.text, "", "DAYTONA_ORGANIZATION_ID"),
    Setting(
        "state_dir",
        values.absolute_path,
        "/var/lib/runner-agent",
        "RUNNER_AGENT_STATE_DIR",
    ),
    Setting("ca_bundle", values.optional_absolute_path, "", "RUNNER_AGENT_CA_BUNDLE"),
    Setting(
        "log_level", values.choice(*values.LOG_LEVELS), "info", "RUNNER_AGENT_LOG_LEVEL"
    ),
    Setting(
        "log_format",
        values.choice("auto", "json", "console"),
        "auto",
        "RUNNER_AGENT_LOG_FORMAT",
    ),
    Setting("runner.name", values.runner_name, ""),
    Setting("runner.region_id", values.region_id, ""),
    Setting("runner.tags", values.string_list, ()),
    Setting(
        "runner.sandbox_class", values.choice(*values.SANDBOX_CLASSES), "container"
    ),
    Setting("runner.domain", values.text, ""),
    Setting("runner.api_url", values.optional_http_url, ""),
    Setting("runner.proxy_url", values.optional_http_url, ""),
    Setting("healthcheck.interval", values.duration, 10.0),
    Setting("healthcheck.timeout", values.duration, 5.0),
    Setting("healthcheck.disk_path", values.text, ""),
    Setting(
        "healthcheck.proc_path",
        values.absolute_path,
        "/proc",
        "RUNNER_AGENT_PROC_PATH",
    ),
    Setting("healthcheck.jitter", values.fraction, 0.1),
    Setting("healthcheck.auth_retry_interval", values.duration, 300.0),
    Setting("healthcheck.cpu_sample_interval", values.duration, 5.0),
    Setting("healthcheck.cpu_window", values.count, 60),
    Setting("docker.socket", values.text, "/var/run/docker.sock"),
    Setting("docker.sandbox_label", values.label_filter, ""),
    Setting("docker.refresh_interval", values.duration, 10.0),
    Setting("docker.timeout", values.duration, 5.0),
    Setting("docker.required", values.boolean, False),
    Setting("checks", parse_checks, ()),
    Setting("watch.interval", values.duration, 30.0),
    Setting(
        "local_api.listen",
        values.listen_address,
        ("127.0.0.1", 9713),
        "RUNNER_AGENT_LISTEN",
    ),
    Setting("local_api.rest", values.boolean, False),
    Setting("lifecycle.register_on_start", values.boolean, True),
    Setting("lifecycle.on_stop", values.choice("none", "cordon", "drain"), "none"),
    Setting("lifecycle.stop_timeout", values.duration, 30.0),
    Setting("lifecycle.drain_timeout", values.duration, 900.0),
    Setting("lifecycle.exit_when_decommissioned", values.boolean, False),
    Setting("lifecycle.exit_when_deleted", values.boolean, True),
    Setting("hooks.on_state_change", values.command, ()),
    Setting("hooks.on_decommissioned", values.command, ()),
    Setting("hooks.timeout", values.duration, 30.0),
)

SECRETS: tuple[SecretSetting, ...] = (
    SecretSetting("api_key", "DAYTONA_API_KEY", "daytona-api-key", "organization"),
    SecretSetting(
        "runner_token", "DAYTONA_RUNNER_TOKEN", "daytona-runner-token", "runner"
    ),
    SecretSetting(
        "proxy_api_key", "DAYTONA_PROXY_API_KEY", "daytona-proxy-api-key", "proxy"
    ),
    # Not a key of the control plane: the bearer token local clients present.
    SecretSetting(
        "local_api.token", "RUNNER_AGENT_LOCAL_TOKEN", "runner-agent-local-token"
    ),
)

SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}
SECRET_KEYS = frozenset(
    key for secret in SECRETS for key in (secret.key, secret.file_key)
)
KNOWN_KEYS = frozenset(SETTINGS_BY_KEY) | SECRET_KEYS
SECTIONS = frozenset(key.split(".")[0] for key in SETTINGS_BY_KEY if "." in key)
