"""sd_notify, read from a real unix datagram socket given as NOTIFY_SOCKET."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from structlog.testing import capture_logs

from runner_agent.config import Config, HealthcheckConfig
from runner_agent.daemon.schedule import Scheduler
from runner_agent.daemon.sdnotify import SystemdNotifier
from runner_agent.daemon.upkeep import Upkeep
from tests.daemon.conftest import inject


class NotifySocket:
    """What systemd would hear from the service."""

    def __init__(self, path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def lines(self) -> list[str]:
        return [line for message in self.messages for line in message.split("\n")]

    def wait_for(self, prefix: str, timeout: float = 15.0, times: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if line.startswith(prefix)]
            if len(found) >= times:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {prefix}; got {self.lines()}")

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_ready_status_watchdog_and_stopping_reach_systemd(
    notify, config_file, start_agent
):
    config = config_file(
        '[healthcheck]\ninterval = 0.3\n[lifecycle]\non_stop = "cordon"\n'
    )
    agent = start_agent(config, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")

    ready = notify.wait_for("READY=1")
    status = notify.wait_for("STATUS=healthcheck accepted")
    notify.wait_for("WATCHDOG=1", times=2)
    code = agent.stop()
    stopping = notify.wait_for("STOPPING=1")
    extend = notify.wait_for("EXTEND_TIMEOUT_USEC=")

    lines = notify.lines()
    assert code == 0
    assert ready == "READY=1"
    assert "ms; runner" in status
    assert lines.index("READY=1") < lines.index(stopping)
    assert int(extend.split("=")[1]) >= 1_000_000


@pytest.mark.parametrize(
    ("fault", "mode"),
    [
        ({"status": 401}, "auth_refused"),
        ({"status": 429, "retryAfter": 30}, "rate_limited"),
        ({"drop": True}, "retrying"),
    ],
)
def test_the_watchdog_is_fed_while_the_agent_waits_on_purpose(
    notify, emulator, config_file, start_agent, fault, mode
):
    inject(emulator, path="/runners/healthcheck", count=-1, **fault)
    config = config_file('[healthcheck]\ninterval = 0.3\nauth_retry_interval = "30s"\n')
    agent = start_agent(config, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
    url = agent.local_url

    agent.wait_for("operation_failing")
    fed_before = notify.lines().count("WATCHDOG=1")
    time.sleep(1.5)
    fed_after = notify.lines().count("WATCHDOG=1")
    status = httpx.get(f"{url}/status").json()
    agent.stop()

    lines = notify.lines()
    assert status["mode"] == mode
    assert fed_after - fed_before >= 4
    assert "READY=1" not in lines
    assert any(line.startswith("STATUS=healthcheck failing") for line in lines)
    assert not agent.named("watchdog_withheld")


def test_the_watchdog_is_withheld_while_the_heartbeat_job_is_stuck(notify):
    notifier = SystemdNotifier(
        {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"}
    )
    scheduler = Scheduler()
    running, release = threading.Event(), threading.Event()

    def stuck_beat() -> float:
        running.set()
        release.wait(10)
        return 60.0

    scheduler.add_self_paced("healthcheck", stuck_beat, fallback_interval=60.0)
    upkeep = Upkeep(scheduler, notifier, "healthcheck", min_grace=0.2)
    config = Config(healthcheck=HealthcheckConfig(interval=0.05, timeout=0.05))

    def chores(seconds: float) -> int:
        """Run the main loop's chores for a while; WATCHDOG=1 heard by then."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(upkeep.run(config), deadline - time.monotonic()))
        time.sleep(0.1)
        return notify.lines().count("WATCHDOG=1")

    scheduler.start()
    with capture_logs() as events:
        try:
            assert running.wait(5)
            fed_at_first = chores(0.1)
            time.sleep(0.3)
            fed_when_stuck = chores(0.6)
            release.set()
            fed_again = chores(0.3)
        finally:
            release.set()
            scheduler.shutdown()
            notifier.close()

    assert fed_at_first >= 1
    assert fed_when_stuck == fed_at_first
    assert fed_again > fed_when_stuck
    assert [e["event"] for e in events] == ["watchdog_withheld", "watchdog_resumed"]


def test_without_systemd_the_agent_is_silent_and_fine(config_file, start_agent):
    agent = start_agent(config_file("[healthcheck]\ninterval = 0.3\n"))

    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    assert agent.stop() == 0
    assert not agent.named("systemd_notify_failed")
