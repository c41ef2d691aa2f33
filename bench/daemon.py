"""CPU per healthcheck and steady memory of ``runner-agent run``.

Both are compared with a reference measured in the same run: a bare loop
that does what any agent must (psutil measurements, one long-lived httpx
client, a JSON POST per beat) and nothing else. The control plane is the
emulator, in a process of its own so that its work is not counted.

CPU is read from ``/proc/<pid>/stat`` (user + system ticks) over a steady
window after start-up, and for the idle minute, which takes only a few
ticks, from the threads' ``schedstat`` (nanoseconds); memory is ``VmRSS``
from ``/proc/<pid>/status`` at the end of the window. Run it with the
project's virtual environment::

    .venv/bin/python bench/daemon.py

It prints the beats counted, CPU per beat, steady RSS and CPU per minute
at the default interval, each beside the reference and as a ratio, and
the reference's RSS with the daemon's libraries imported but unused;
docs/benchmarks.md holds the latest figures. The CPU per minute includes
everything an idle agent does besides beating:
CPU sampling every 5 s, the Docker refresh, the state watch, its main loop.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")

# httpx imports its own command line (click, rich, pygments) whenever they
# are installed, as they are here; a bare loop would run where they are not,
# so the reference leaves them out, as the agent does.
REFERENCE_LOOP = """
import json, os, sys, time
for name in ("rich", "pygments", "click"):
    sys.modules[name] = None
import httpx, psutil

url, key, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = httpx.Client(headers={"Authorization": f"Bearer {key}"})
psutil.cpu_percent(interval=None)
while True:
    started = time.monotonic()
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    load = os.getloadavg()[2] / (psutil.cpu_count() or 1)
    body = {
        "metrics": {
            "currentCpuLoadAverage": load,
            "currentCpuUsagePercentage": psutil.cpu_percent(interval=None),
            "currentMemoryUsagePercentage": memory.percent,
            "currentDiskUsagePercentage": disk.percent,
            "currentAllocatedCpu": 0, "currentAllocatedMemoryGiB": 0,
            "currentAllocatedDiskGiB": 0, "currentSnapshotCount": 0,
            "currentStartedSandboxes": 0, "cpu": psutil.cpu_count(),
            "memoryGiB": memory.total / 2**30, "diskGiB": disk.total / 2**30,
        },
        "appVersion": "reference",
    }
    client.post(f"{url}/runners/healthcheck", json=body).raise_for_status()
    time.sleep(max(0.0, interval - (time.monotonic() - started)))
"""


# What the daemon cannot do without, imported into the reference but not
# used: how much of the agent's memory is theirs rather than its own.
LIBRARIES = (
    "import sys\n"
    "for name in ('rich', 'pygments', 'click'):\n"
    "    sys.modules[name] = None\n"
    "import structlog, apscheduler.schedulers.background, prometheus_client\n"
)


def cpu_seconds(pid: int) -> float:
    """CPU time of the whole process, dead threads included, in clock ticks.

    Clock ticks (10 ms) are fine over a busy window; an idle minute takes
    only a few of them, so :func:`cpu_seconds_exact` measures that.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds_exact(pid: int) -> float:
    """CPU time of the living threads, to the nanosecond (schedstat).

    Threads that ended are not counted: neither process starts or ends
    threads once it is running.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def healthcheck_count(control_url: str, runner_id: str) -> int:
    state = httpx.get(f"{control_url}/state").json()
    for runner in state["runners"]:
        if runner["id"] == runner_id:
            return int(runner["healthcheckCount"])
    return 0


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner_agent",
            "emulator",
            "--json",
            "--unresponsive-after",
            "600s",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    return emulator, json.loads(emulator.stdout.readline())


def create_runner(emulator: dict[str, str], name: str) -> tuple[str, str]:
    answer = httpx.post(
        f"{emulator['url']}/runners",
        json={"regionId": emulator["regionId"], "name": name},
        headers={"Authorization": f"Bearer {emulator['organizationKey']}"},
    )
    answer.raise_for_status()
    created = answer.json()
    return created["id"], created["apiKey"]


def measure(
    process: subprocess.Popen[str],
    count: Callable[[], int],
    warmup: float,
    window: float,
    clock: Callable[[int], float],
) -> tuple[int, float, float]:
    """Beats, CPU seconds and RSS over ``window`` after ``warmup``."""
    time.sleep(warmup)
    beats0, cpu0 = count(), clock(process.pid)
    time.sleep(window)
    beats1, cpu1 = count(), clock(process.pid)
    return beats1 - beats0, cpu1 - cpu0, rss_mb(process.pid)


def run_agent(
    emulator: dict[str, str], interval: float, workdir: Path
) -> subprocess.Popen[str]:
    config = workdir / "agent.toml"
    config.write_text(
        f'api_url = "{emulator["url"]}"\n'
        f'state_dir = "{workdir / "state"}"\n'
        f'log_level = "warning"\n'
        f'[runner]\nregion_id = "{emulator["regionId"]}"\nname = "{workdir.name}"\n'
        f"[healthcheck]\ninterval = {interval}\n"
        f'[local_api]\nlisten = "127.0.0.1:0"\n'
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DAYTONA_API_KEY": emulator["organizationKey"],
        "RUNNER_AGENT_CONFIG": str(config),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "runner_agent", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


Result = tuple[int, float, float]


def compare(
    emulator: dict[str, str],
    interval: float,
    window: float,
    clock: Callable[[int], float] = cpu_seconds,
) -> tuple[Result, Result]:
    """Measure the agent, then the reference loop, at one interval."""
    workdir = Path(tempfile.mkdtemp(prefix="runner-agent-bench-"))
    agent = run_agent(emulator, interval, workdir)
    identity = workdir / "state" / "identity.json"
    while not identity.exists():
        if agent.poll() is not None:
            raise SystemExit(f"the agent exited with {agent.returncode}")
        time.sleep(0.05)
    agent_id = json.loads(identity.read_text())["runnerId"]
    warmup = max(3.0, 2 * interval)
    agent_result = measure(
        agent,
        lambda: healthcheck_count(emulator["controlUrl"], agent_id),
        warmup,
        window,
        clock,
    )
    agent.terminate()
    agent.wait(30)

    reference_result = run_reference(emulator, interval, warmup, window, clock)
    return agent_result, reference_result


def run_reference(
    emulator: dict[str, str],
    interval: float,
    warmup: float,
    window: float,
    clock: Callable[[int], float],
    preamble: str = "",
) -> Result:
    """Measure the reference loop, with ``preamble`` run before it."""
    reference_id, reference_key = create_runner(
        emulator, f"bench-reference-{int(time.time() * 1000)}"
    )
    code = preamble + REFERENCE_LOOP
    loop = [sys.executable, "-c", code, emulator["url"], reference_key]
    reference = subprocess.Popen([*loop, str(interval)])
    result = measure(
        reference,
        lambda: healthcheck_count(emulator["controlUrl"], reference_id),
        warmup,
        window,
        clock,
    )
    reference.terminate()
    reference.wait(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--idle-window", type=float, default=60.0)
    options = parser.parse_args()

    emulator_process, emulator = start_emulator()
    try:
        busy = compare(emulator, options.interval, options.window)
        with_libraries = run_reference(
            emulator, options.interval, 3.0, 5.0, cpu_seconds, LIBRARIES
        )
        idle = compare(emulator, 10.0, options.idle_window, cpu_seconds_exact)
    finally:
        emulator_process.terminate()
        emulator_process.wait(30)

    report(*busy, options.interval, options.window)
    print(
        f"steady RSS    reference with the daemon's libraries imported, unused: "
        f"{with_libraries[2]:.1f} MB"
    )
    report_idle(*idle, options.idle_window)


def report(agent: Result, reference: Result, interval: float, window: float) -> None:
    agent_ms = agent[1] / max(agent[0], 1) * 1000
    reference_ms = reference[1] / max(reference[0], 1) * 1000
    print(
        f"beats         agent {agent[0]}   reference {reference[0]}   "
        f"(interval {interval:g} s, {window:g} s window)"
    )
    print(
        f"CPU per beat  agent {agent_ms:.2f} ms   reference {reference_ms:.2f} ms   "
        f"ratio {agent_ms / reference_ms:.2f}"
    )
    print(
        f"steady RSS    agent {agent[2]:.1f} MB   reference {reference[2]:.1f} MB   "
        f"ratio {agent[2] / reference[2]:.2f}"
    )


def report_idle(agent: Result, reference: Result, window: float) -> None:
    """CPU per minute at the default 10 s interval: what a host really pays."""
    agent_rate = agent[1] / window * 60 * 1000
    reference_rate = reference[1] / window * 60 * 1000
    print(
        f"CPU per minute at the default 10 s interval ({window:g} s window): "
        f"agent {agent_rate:.1f} ms   reference {reference_rate:.1f} ms   "
        f"ratio {agent_rate / max(reference_rate, 1e-9):.2f}"
    )


if __name__ == "__main__":
    main()
