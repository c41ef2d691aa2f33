"""``runner-agent run``: the long-running agent.

:class:`Daemon` ties the parts together: :mod:`.heartbeat` (the
healthcheck and its retry policy), :mod:`.watch` (the runner's state read
back), :mod:`.schedule` (APScheduler), :mod:`.local_api` and
:mod:`.telemetry` (the local endpoint), :mod:`.sdnotify` (systemd),
:mod:`.signals` and :mod:`.upkeep` (the main thread), :mod:`.hooks`,
:mod:`.startup`, :mod:`.cordon`, :mod:`.stopping` and :mod:`.reload`.
"""

from runner_agent.daemon.agent import Daemon

__all__ = ["Daemon"]
