"""sd_notify, read from a real unix datagram socket given as NOTIFY_SOCKET."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.daemon.conftest import control


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


def test_no_watchdog_while_healthchecks_are_not_accepted(
    notify, emulator, config_file, start_agent
):
    refused = {"path": "/runners/healthcheck", "status": 503, "count": -1}
    control(emulator, "POST", "/faults", json=refused)
    config = config_file("[healthcheck]\ninterval = 0.3\n")
    agent = start_agent(config, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")

    agent.wait_for("operation_failing")
    time.sleep(1.5)
    agent.stop()

    lines = notify.lines()
    assert "READY=1" not in lines
    assert "WATCHDOG=1" not in lines
    assert any(line.startswith("STATUS=healthcheck failing") for line in lines)


def test_without_systemd_the_agent_is_silent_and_fine(config_file, start_agent):
    agent = start_agent(config_file("[healthcheck]\ninterval = 0.3\n"))

    agent.wait_for("runner_state_changed", lambda e: e["new_state"] == "ready")

    assert agent.stop() == 0
    assert not agent.named("systemd_notify_failed")
