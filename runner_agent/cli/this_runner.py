"""Commands about this host's runner: ``status`` and ``healthcheck``.

Also what every command about this runner shares: its configuration and
the way a deleted runner is reported (:func:`runner_gone_on_404`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner_agent.cli.common import (
    ApiUrl,
    ConfigPath,
    Json,
    LogLevel,
    ShowSecrets,
    StateDirOption,
    echo,
    fields,
    load,
    print_json,
)
from runner_agent.cli.flags import flags
from runner_agent.cli.fleet import runner_fields, seconds_since, server_now

if TYPE_CHECKING:
    from runner_agent.config import Config
    from runner_agent.context import AgentContext
    from runner_agent.errors import TransportError
    from runner_agent.models import RunnerFull
    from runner_agent.state import Identity


def this_runner_config(
    config_path: Path | None,
    api_url: str | None,
    state_dir: Path | None,
    log_level: str | None,
) -> Config:
    """The configuration of a command about this host's runner."""
    return load(
        config_path,
        flags(
            api_url=("--api-url", api_url),
            state_dir=("--state-dir", state_dir),
        ),
        log_level=log_level,
    )


def status(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Show this runner as the control plane sees it, beside what the host knows.

    The host's side: the identity, what the agent asked for (draining,
    its own cordon) and the running agent's last healthcheck. Exits 5 when
    the runner no longer exists, 3 (after the local view) when the control
    plane cannot be reached.

    Example: runner-agent status --json
    """
    from runner_agent.context import AgentContext
    from runner_agent.errors import TransportError

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    context = AgentContext(config)
    try:
        identity = context.local_identity()
        view = StatusView(context, identity, show_secrets=show_secrets)
        try:
            with runner_gone_on_404(context):
                view.runner = context.client.get_me()
        except TransportError as error:
            view.unreachable = error
    finally:
        context.close()

    if view.runner is not None and not identity.runner_id:
        view.identity = identity.of_runner(view.runner)
    if json_output:
        print_json(view.to_json())
    else:
        echo(view.text())
    if view.unreachable is not None:
        raise view.unreachable


@contextlib.contextmanager
def runner_gone_on_404(context: AgentContext) -> Iterator[None]:
    """Report a 404 about this host's runner as a deleted runner, with the way on.

    Inside the block every request is about this runner, so "not found"
    means it was deleted; the error names it and ``register --force``.
    """
    from runner_agent.errors import NotFoundError, RunnerGoneError

    try:
        yield
    except NotFoundError:
        stored = context.identity_file
        who = _who(context.state.load_identity())
        raise RunnerGoneError(
            f"runner {who} no longer exists on the control plane; "
            "run runner-agent register --force to register this host anew",
            path=str(stored) if stored else "",
        ) from None


def _who(identity: Identity | None) -> str:
    if identity is None or not identity.runner_id:
        return "id unknown (runner key only)"
    return f"{identity.name} ({identity.runner_id})"


class StatusView:
    """What ``status`` shows: the control plane's view and the host's own."""

    def __init__(
        self, context: AgentContext, identity: Identity, *, show_secrets: bool
    ) -> None:
        from runner_agent.doctor import agent_status

        config = context.config
        self.identity = identity
        self.identity_source = context.identity_source
        self.show_secrets = show_secrets
        self.client = context.client
        self.intent = context.state.load_intent()
        self.listen = config.local_api.listen
        self.agent = agent_status(config)
        self.runner: RunnerFull | None = None
        self.unreachable: TransportError | None = None

    def last_checked_age(self) -> float | None:
        if self.runner is None:
            return None
        return seconds_since(self.runner.last_checked, server_now(self.client))

    def warnings(self) -> list[str]:
        state = self.runner.state if self.runner else None
        return [_STATE_WARNINGS[state]] if state in _STATE_WARNINGS else []

    def to_json(self) -> dict[str, Any]:
        runner = self.runner
        document: dict[str, Any] = {
            "identity": {
                **self.identity.to_json(show_secrets=self.show_secrets),
                "source": self.identity_source,
            },
            "controlPlane": runner.to_json(show_secrets=self.show_secrets)
            if runner
            else None,
            "lastCheckedAgeSeconds": self.last_checked_age(),
            "intent": self.intent.to_json(),
            "agent": self.agent,
            "agentEndpoint": self.listen,
            "warnings": self.warnings(),
        }
        if self.unreachable is not None:
            document["error"] = str(self.unreachable)
        return document

    def text(self) -> str:
        if self.runner is not None:
            pairs = runner_fields(
                self.runner, server_now(self.client), show_secrets=self.show_secrets
            )
        else:
            pairs = [
                ("runner", _who(self.identity)),
                ("control plane", f"unreachable: {self.unreachable}"),
            ]
        text = fields([*pairs, *self._local_fields()])
        warnings = "\n".join(f"warning: {line}" for line in self.warnings())
        return f"{text}\n\n{warnings}" if warnings else text

    def _local_fields(self) -> list[tuple[str, Any]]:
        intent = self.intent
        asked = [
            f"draining since {intent.draining_since}" if intent.draining else "",
            f"cordoned by the agent at {intent.cordoned_at}"
            if intent.cordoned_by_agent
            else "",
        ]
        pairs: list[tuple[str, Any]] = [
            ("identity", self.identity_source),
            ("intent", "; ".join(part for part in asked if part) or "none"),
            ("agent", self._agent_summary()),
        ]
        beats = (self.agent or {}).get("healthcheck") or {}
        for label, key in (
            ("last healthcheck", "last"),
            ("last accepted", "lastAccepted"),
        ):
            beat = beats.get(key)
            if isinstance(beat, dict):
                pairs.append((label, _beat(beat)))
        return pairs

    def _agent_summary(self) -> str:
        if not self.listen:
            return "local endpoint off (local_api.listen)"
        if self.agent is None:
            return f"not answering on {self.listen} (is the service running?)"
        mode = self.agent.get("mode", "?")
        if self.agent.get("ready"):
            return f"{mode}, ready"
        reasons = "; ".join(str(r) for r in self.agent.get("reasons") or [])
        return f"{mode}, not ready: {reasons}"


_STATE_WARNINGS = {
    "unresponsive": "the control plane marks this runner unresponsive: no "
    "healthcheck accepted for 60s, or a service reported unhealthy; "
    "run runner-agent doctor",
    "initializing": "no healthcheck accepted yet: is the service running "
    "(systemctl status runner-agent)?",
    "decommissioned": "decommissioned: retired for good; runner-agent "
    "deregister deletes it",
}


def _beat(beat: dict[str, Any]) -> str:
    latency = beat.get("latencyMs")
    took = f" in {latency:.0f} ms" if isinstance(latency, int | float) else ""
    return f"{beat.get('at', '?')}: {beat.get('result', '?')}{took}"


def healthcheck(
    config_path: ConfigPath = None,
    api_url: ApiUrl = None,
    state_dir: StateDirOption = None,
    log_level: LogLevel = None,
    json_output: Json = False,
) -> None:
    """Measure this host and send one healthcheck now.

    Exits 3 when the control plane cannot be reached, 4 when it refuses
    the runner key, 5 when the runner no longer exists.

    Example: runner-agent healthcheck
    """
    from runner_agent.context import AgentContext
    from runner_agent.payload import measure_once

    config = this_runner_config(config_path, api_url, state_dir, log_level)
    context = AgentContext(config)
    try:
        with runner_gone_on_404(context):
            identity = context.identity()
            body = measure_once(config, identity)
            started = time.monotonic()
            context.client.send_healthcheck(body)
            latency_ms = (time.monotonic() - started) * 1000
    finally:
        context.close()

    if json_output:
        print_json({"accepted": True, "latencyMs": round(latency_ms, 1), "body": body})
    else:
        echo(f"Healthcheck accepted in {latency_ms:.0f} ms.")
