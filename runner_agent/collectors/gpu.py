"""NVIDIA GPUs of the host: how many, and the model of the first.

NVML (the optional ``gpu`` extra, ``nvidia-ml-py``) is asked first: it needs
no process. Without it, ``nvidia-smi --query-gpu=name --format=csv,noheader``
is run, as Daytona's runner does (``apps/runner/pkg/docker/gpu_info.go``):
one line per GPU. A host with neither tool has no GPU to report; a host
whose tool is there but fails is a failed collection.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runner_agent.errors import CollectionError

Source = Literal["nvml", "nvidia-smi", "none"]
SMI_TIMEOUT = 10.0
# What nvidia-smi says, with a non-zero status, on a host without GPUs.
_NO_DEVICES = "No devices were found"


@dataclass(frozen=True)
class GpuInfo:
    """GPUs found, and by which means."""

    count: int = 0
    model: str = ""
    source: Source = "none"
    note: str = ""


# Present only while the NVIDIA kernel driver is loaded: without it NVML
# cannot find a device, and importing it would only cost memory.
NVIDIA_DRIVER = Path("/proc/driver/nvidia")


def detect_gpus(timeout: float = SMI_TIMEOUT) -> GpuInfo:
    """NVML if it loads, else nvidia-smi if installed, else no GPU."""
    note = "no NVIDIA driver loaded"
    if NVIDIA_DRIVER.exists():
        found, note = _from_nvml()
        if found is not None:
            return found
    path = shutil.which("nvidia-smi")
    if path is None:
        return GpuInfo(note=f"{note}; no nvidia-smi on PATH")
    return _from_nvidia_smi(path, timeout)


def _from_nvml() -> tuple[GpuInfo | None, str]:
    try:
        nvml: Any = importlib.import_module("pynvml")
    except ImportError:
        return None, "NVML: nvidia-ml-py not installed"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        return None, f"NVML: {error}"
    try:
        count = int(nvml.nvmlDeviceGetCount())
        name = (
            nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(0)) if count else ""
        )
    except nvml.NVMLError as error:
        raise CollectionError(f"NVML: {error}", collector="gpu") from None
    finally:
        nvml.nvmlShutdown()
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return GpuInfo(count=count, model=str(name).strip(), source="nvml"), ""


def _from_nvidia_smi(path: str, timeout: float) -> GpuInfo:
    command = [path, "--query-gpu=name", "--format=csv,noheader"]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CollectionError(
            f"nvidia-smi did not answer within {timeout:g}s", collector="gpu"
        ) from None
    except OSError as error:
        raise CollectionError(
            f"nvidia-smi: {error.strerror}", collector="gpu"
        ) from None
    if result.returncode != 0 and _NO_DEVICES in result.stdout + result.stderr:
        return GpuInfo(note=f"nvidia-smi: {_NO_DEVICES}")
    if result.returncode != 0:
        message = (result.stdout + result.stderr).strip().splitlines()
        detail = message[-1] if message else f"exit status {result.returncode}"
        raise CollectionError(f"nvidia-smi failed: {detail}", collector="gpu")
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return GpuInfo(
        count=len(names), model=names[0] if names else "", source="nvidia-smi"
    )
