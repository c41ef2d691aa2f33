"""Getting the daemon an identity: the one on disk, or a new registration.

Registration at start retries what can heal by itself (the network, the
control plane, rate limits) with backoff, slows right down on a refused
key, and turns what cannot heal (a bad region, a name held by another
runner, an ``api_url`` that leads to no runners API) into a configuration
error so that systemd stops restarting a unit that cannot work.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from runner_agent import errors
from runner_agent.config import Config
from runner_agent.context import AgentContext
from runner_agent.daemon.failures import FailureLog
from runner_agent.daemon.heartbeat import classify, retry_policy
from runner_agent.registration import (
    RegistrationRequest,
    default_runner_name,
    register,
)
from runner_agent.state import Identity

log = structlog.get_logger(__name__)


def registration_request(config: Config) -> RegistrationRequest:
    """What to create, from the ``[runner]`` section."""
    return RegistrationRequest(
        region_id=config.runner.region_id,
        name=config.runner.name or default_runner_name(),
        tags=config.runner.tags,
        sandbox_class=config.runner.sandbox_class,
    )


def obtain_identity(
    context: AgentContext,
    *,
    should_stop: Callable[[], bool],
    sleep: Callable[[float], None],
) -> Identity | None:
    """The identity to beat with; None if a stop was asked for meanwhile."""
    config = context.config
    if context.state.load_identity() is not None or config.credentials.runner:
        return _retrying(context, should_stop, sleep, context.identity, "identity")
    if not config.lifecycle.register_on_start:
        raise errors.ConfigError(
            "this host has no runner identity and lifecycle.register_on_start is "
            "false: run runner-agent register first",
            key="lifecycle.register_on_start",
        )
    if not config.credentials.organization:
        raise errors.MissingCredentialError(
            "registering at start needs the organization key: set DAYTONA_API_KEY "
            "or api_key_file",
            key="api_key",
        )
    request = registration_request(config)

    def attempt() -> Identity:
        try:
            return register(context.client, context.state, request).identity
        except errors.NotFoundError as error:
            # Only the create can answer 404 here: the region is unknown.
            raise errors.ConfigError(
                f"the control plane does not know region {request.region_id}: {error}",
                key="runner.region_id",
            ) from error

    return _retrying(context, should_stop, sleep, attempt, "registration")


def wrong_api_url(config: Config, error: errors.NoSuchRouteError) -> errors.ConfigError:
    """The error that stops the daemon when api_url leads to no runners API."""
    return errors.ConfigError(
        f"{config.api_url} does not serve the runners API: {error}",
        key="api_url",
        origin=str(config.origin("api_url")),
    )


def _retrying(
    context: AgentContext,
    should_stop: Callable[[], bool],
    sleep: Callable[[float], None],
    attempt: Callable[[], Identity],
    operation: str,
) -> Identity | None:
    policy = retry_policy(
        min(30.0, max(context.config.healthcheck.interval, 1.0)),
        context.config.healthcheck,
    )
    failures = FailureLog(operation)
    while not should_stop():
        try:
            identity = attempt()
        except errors.NoSuchRouteError as error:
            raise wrong_api_url(context.config, error) from error
        except (errors.BadRequestError, errors.ConflictError) as error:
            raise errors.ConfigError(
                f"the control plane refused the {operation}: {error}"
            ) from error
        except errors.ApiError as error:
            failures.failed(classify(error), str(error))
            sleep(policy.after_failure(error, failures.count))
            continue
        failures.succeeded()
        return identity
    return None
