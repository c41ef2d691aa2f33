"""Build the effective configuration from flags, environment, file, defaults.

Precedence is flags > environment > file > defaults, key by key. Every
value is parsed where it enters, so a bad one is reported with its key and
its origin and the process stops before doing anything (exit 78).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner_agent.config import schema
from runner_agent.config.model import (
    DEFAULT,
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
from runner_agent.config.values import fit_timeout, is_loopback, key_value, unknown_key
from runner_agent.credentials import Credentials, Secret
from runner_agent.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/runner-agent/config.toml")
CONFIG_ENV = "RUNNER_AGENT_CONFIG"


@dataclass(frozen=True)
class FlagValue:
    """A value given on the command line, with the flag that carried it."""

    flag: str
    value: Any


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, FlagValue] | None = None,
) -> Config:
    """Return the effective configuration, or raise :class:`ConfigError`.

    ``path`` is the ``--config`` flag; without it ``RUNNER_AGENT_CONFIG`` or
    the default path is read, and a missing default file is no error.
    """
    env = {k: v for k, v in (os.environ if env is None else env).items() if v}
    flags = flags or {}
    config_path, named_by = _config_path(path, env)
    file_values = _read_file(config_path, named_by) if config_path else {}
    file_origin = Origin("file", str(config_path))

    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for setting in schema.SETTINGS:
        raw, origin = _pick(setting, flags, env, file_values, file_origin)
        values[setting.key] = _parse(setting.key, setting.parse, raw, origin)
        origins[setting.key] = origin

    secrets: dict[str, Secret | None] = {}
    for secret in schema.SECRETS:
        value, origin = _resolve_secret(secret, flags, env, file_values, file_origin)
        secrets[secret.role or secret.key] = value
        origins[secret.key] = origin
    _check_consistency(values, origins)

    loaded = config_path if config_path and config_path.exists() else None
    config = _build(values, secrets, origins, loaded)
    check_rest_exposure(config)
    return config


def _config_path(
    path: str | Path | None, env: Mapping[str, str]
) -> tuple[Path | None, str]:
    """The file to read, and who named it ("" for the default path)."""
    if path:
        return Path(path), "--config"
    if CONFIG_ENV in env:
        return Path(env[CONFIG_ENV]), CONFIG_ENV
    return DEFAULT_CONFIG_PATH, ""


def _read_file(path: Path, named_by: str) -> dict[str, Any]:
    """Read and flatten the TOML file to dotted keys.

    A missing default file is no error; one named by ``--config`` or the
    environment is.
    """
    origin = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if named_by:
            raise ConfigError(
                f"the configuration file does not exist (named by {named_by})",
                origin=origin,
            ) from None
        return {}
    except OSError as error:
        raise ConfigError(f"cannot read it: {error.strerror}", origin=origin) from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"not valid TOML: {error}", origin=origin) from None

    flat = _flatten(document, origin)
    _refuse_exposed_secrets(path, flat)
    return flat


def _flatten(document: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in document.items():
        if name in schema.SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError("must be a table", key=name, origin=origin)
            flat.update({f"{name}.{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    for key in flat:
        if key not in schema.KNOWN_KEYS:
            raise ConfigError(
                unknown_key(key, schema.KNOWN_KEYS), key=key, origin=origin
            )
    return flat


def _refuse_exposed_secrets(path: Path, flat: Mapping[str, Any]) -> None:
    """Refuse a file holding a key inline that group or others can read."""
    inline = [secret.key for secret in schema.SECRETS if secret.key in flat]
    if not inline:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the file holds a secret but is readable by others (mode {mode:04o}); "
            f"run chmod 600 {path}, or move the key to {inline[0]}_file",
            key=inline[0],
            origin=str(path),
        )


def _pick(
    setting: schema.Setting,
    flags: Mapping[str, FlagValue],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    file_origin: Origin,
) -> tuple[Any, Origin]:
    if setting.key in flags:
        flag = flags[setting.key]
        return flag.value, Origin("flag", flag.flag)
    if setting.env and setting.env in env:
        return env[setting.env], Origin("env", setting.env)
    if setting.key in file_values:
        return file_values[setting.key], file_origin
    return setting.default, DEFAULT


def _parse(key: str, parse: Any, raw: Any, origin: Origin) -> Any:
    if origin.kind == "default":
        return raw
    try:
        return parse(raw)
    except ValueError as error:
        # Parsers of nested values (checks[2].url) name the key themselves.
        key = getattr(error, "key", key)
        raise ConfigError(str(error), key=key, origin=str(origin)) from None


def _resolve_secret(
    secret: schema.SecretSetting,
    flags: Mapping[str, FlagValue],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    file_origin: Origin,
) -> tuple[Secret | None, Origin]:
    """Find a secret in the first layer that gives it, inline or as a file."""
    layers: list[tuple[Any, Any, Origin, Origin]] = [
        (
            flags[secret.key].value if secret.key in flags else None,
            flags[secret.file_key].value if secret.file_key in flags else None,
            Origin("flag", flags[secret.key].flag if secret.key in flags else ""),
            Origin(
                "flag",
                flags[secret.file_key].flag if secret.file_key in flags else "",
            ),
        ),
        (
            env.get(secret.env),
            env.get(secret.file_env),
            Origin("env", secret.env),
            Origin("env", secret.file_env),
        ),
        (
            file_values.get(secret.key),
            file_values.get(secret.file_key),
            file_origin,
            file_origin,
        ),
    ]
    for inline, from_file, inline_origin, file_key_origin in layers:
        if inline is not None and from_file is not None:
            raise ConfigError(
                f"set {secret.key} or {secret.file_key}, not both",
                key=secret.key,
                origin=str(inline_origin),
            )
        if inline is not None:
            return _inline_secret(secret.key, inline, inline_origin), inline_origin
        if from_file is not None:
            value = _secret_from_file(secret.file_key, from_file, file_key_origin)
            return value, file_key_origin
    return _credential(secret)


def _inline_secret(key: str, raw: Any, origin: Origin) -> Secret:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError("must be a non-empty string", key=key, origin=str(origin))
    return _key(key, raw, origin)


def _key(key: str, raw: str, origin: Origin) -> Secret:
    """A key checked before it can reach a header (or an error quoting one)."""
    try:
        return Secret(key_value(raw))
    except ValueError as error:
        raise ConfigError(str(error), key=key, origin=str(origin)) from None


def _secret_from_file(key: str, raw: Any, origin: Origin) -> Secret:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError("must be a file path", key=key, origin=str(origin))
    path = Path(raw.strip())
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            f"cannot read {path}: {reason}", key=key, origin=str(origin)
        ) from None
    if not value:
        raise ConfigError(f"{path} is empty", key=key, origin=str(origin))
    return _key(key, value, Origin(origin.kind, f"{origin.where} -> {path}"))


def _credential(secret: schema.SecretSetting) -> tuple[Secret | None, Origin]:
    """A systemd credential (``LoadCredential=``), the lowest layer."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None, DEFAULT
    path = Path(directory) / secret.credential
    if not path.is_file():
        return None, DEFAULT
    origin = Origin("credential", str(path))
    return _secret_from_file(secret.file_key, str(path), origin), origin


def _check_consistency(values: dict[str, Any], origins: Mapping[str, Origin]) -> None:
    _fit_timeout(values, origins, "healthcheck.timeout", "healthcheck.interval")
    _fit_timeout(values, origins, "docker.timeout", "docker.refresh_interval")
    if values["ca_bundle"]:
        _check_ca_bundle(values["ca_bundle"], origins["ca_bundle"])


def _check_ca_bundle(path: str, origin: Origin) -> None:
    """Load the bundle now, so a bad one is refused at start with its origin."""
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            f"cannot load the CA bundle {path}: {reason}",
            key="ca_bundle",
            origin=str(origin),
        ) from None


def _fit_timeout(
    values: dict[str, Any],
    origins: Mapping[str, Origin],
    timeout_key: str,
    interval_key: str,
) -> None:
    """Apply :func:`fit_timeout` to a timeout key and its interval key."""
    try:
        values[timeout_key] = fit_timeout(
            values[timeout_key],
            values[interval_key],
            configured=origins[timeout_key].kind != "default",
            interval_name=interval_key,
        )
    except ValueError as error:
        raise ConfigError(
            str(error), key=timeout_key, origin=str(origins[timeout_key])
        ) from None


def check_rest_exposure(config: Config) -> None:
    """Refuse a REST adapter that would answer beyond loopback without a token."""
    local_api = config.local_api
    if not local_api.rest or local_api.address is None or local_api.token:
        return
    if is_loopback(local_api.address[0]):
        return
    raise ConfigError(
        f"the REST adapter would answer on {local_api.listen} without a token; "
        "set local_api.token_file (or RUNNER_AGENT_LOCAL_TOKEN), "
        "or listen on 127.0.0.1",
        key="local_api.rest",
        origin=str(config.origin("local_api.rest")),
    )


def _build(
    values: Mapping[str, Any],
    secrets: Mapping[str, Secret | None],
    origins: dict[str, Origin],
    path: Path | None,
) -> Config:
    def section(prefix: str) -> dict[str, Any]:
        return {
            key.split(".", 1)[1]: value
            for key, value in values.items()
            if key.startswith(f"{prefix}.")
        }

    local_api = section("local_api")
    return Config(
        api_url=values["api_url"],
        organization_id=values["organization_id"],
        state_dir=Path(values["state_dir"]),
        ca_bundle=values["ca_bundle"],
        log_level=values["log_level"],
        log_format=values["log_format"],
        credentials=Credentials(
            organization=secrets["organization"],
            runner=secrets["runner"],
            proxy=secrets["proxy"],
        ),
        runner=RunnerConfig(**section("runner")),
        healthcheck=HealthcheckConfig(**section("healthcheck")),
        local_api=LocalApiConfig(
            address=local_api["listen"],
            rest=local_api["rest"],
            token=secrets["local_api.token"],
        ),
        lifecycle=LifecycleConfig(**section("lifecycle")),
        watch=WatchConfig(**section("watch")),
        hooks=HooksConfig(**section("hooks")),
        docker=DockerConfig(**section("docker")),
        checks=values["checks"],
        path=path,
        origins=origins,
    )
