"""GPU detection through NVML and nvidia-smi, on a host that has no GPU.

There is no GPU here: the nvidia-smi path is exercised with a fake
``nvidia-smi`` script placed first on PATH, NVML is made absent by hiding
the ``pynvml`` module, and NVML finding GPUs is played by a fake ``pynvml``
module (the real one needs an NVIDIA driver and a device).
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import types

import pytest
from daytona_api_client.models import RunnerHealthMetrics

from runner_agent.collectors import HostMonitor, gpu
from runner_agent.collectors.gpu import GpuInfo, detect_gpus
from runner_agent.config import Config
from runner_agent.errors import CollectionError


@pytest.fixture
def no_nvml(monkeypatch):
    """NVML absent: importing pynvml fails as without the gpu extra."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """Write a fake nvidia-smi first on PATH; returns a function setting its script."""

    def install(body: str) -> None:
        script = tmp_path / "nvidia-smi"
        script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
        script.chmod(0o755)

    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return install


def test_no_nvml_and_no_nvidia_smi_means_no_gpu(no_nvml, tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))

    info = detect_gpus()

    assert info.count == 0
    assert info.source == "none"
    assert "nvidia-ml-py not installed" in info.note


def test_nvml_without_its_driver_library_falls_through(tmp_path, monkeypatch):
    # The test extra installs nvidia-ml-py; the driver's /proc entry is faked
    # so that NVML is tried; its library is really absent here.
    importlib.import_module("pynvml")
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))

    info = detect_gpus()

    assert info == GpuInfo(count=0, source="none", note=info.note)
    assert info.note.startswith("NVML")


def test_without_the_nvidia_driver_nvml_is_not_even_imported(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)

    info = detect_gpus()

    assert info.count == 0
    assert "no NVIDIA driver loaded" in info.note
    assert "pynvml" not in sys.modules


def _fake_nvml(names: list[bytes | str]) -> types.ModuleType:
    """A ``pynvml`` with the calls the collector makes, seeing ``names``.

    No NVIDIA GPU exists on this machine, so NVML finding some can only be
    played: the collector's own code runs unchanged against this module.
    """
    nvml = types.ModuleType("pynvml")
    nvml.calls = []

    class NVMLError(Exception):
        pass

    def call(name, result=None):
        def record(*args):
            nvml.calls.append((name, *args))
            return result(*args) if callable(result) else result

        return record

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = call("init")
    nvml.nvmlShutdown = call("shutdown")
    nvml.nvmlDeviceGetCount = call("count", len(names))
    nvml.nvmlDeviceGetHandleByIndex = call("handle", lambda index: f"gpu{index}")
    nvml.nvmlDeviceGetName = call("name", lambda handle: names[int(handle[3:])])
    return nvml


@pytest.mark.parametrize("name", [b"NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])
def test_nvml_gives_the_count_and_first_model(name, tmp_path, monkeypatch):
    nvml = _fake_nvml([name, b"NVIDIA L4"])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))

    info = detect_gpus()

    assert info == GpuInfo(count=2, model="NVIDIA H100 80GB HBM3", source="nvml")
    assert nvml.calls[0] == ("init",)
    assert nvml.calls[-1] == ("shutdown",)


def test_nvml_with_no_device_reports_no_gpu_and_asks_no_name(tmp_path, monkeypatch):
    nvml = _fake_nvml([])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(gpu, "NVIDIA_DRIVER", tmp_path)

    info = detect_gpus()

    assert info == GpuInfo(count=0, model="", source="nvml")
    assert [call[0] for call in nvml.calls] == ["init", "count", "shutdown"]


def test_nvidia_smi_lines_give_the_count_and_first_model(no_nvml, fake_smi):
    fake_smi(
        """\
        echo "NVIDIA A100-SXM4-80GB"
        echo "NVIDIA A100-SXM4-80GB"
        """
    )

    info = detect_gpus()

    assert info == GpuInfo(count=2, model="NVIDIA A100-SXM4-80GB", source="nvidia-smi")


def test_a_failing_nvidia_smi_is_a_failed_collection(no_nvml, fake_smi):
    fake_smi(
        """\
        echo "NVIDIA-SMI has failed because it couldn't communicate with the driver"
        exit 9
        """
    )

    with pytest.raises(CollectionError, match="couldn't communicate"):
        detect_gpus()


def test_nvidia_smi_finding_no_device_means_no_gpu(no_nvml, fake_smi):
    fake_smi(
        """\
        echo "No devices were found"
        exit 6
        """
    )

    info = detect_gpus()

    assert (info.count, info.source) == (0, "none")


def test_a_hung_nvidia_smi_is_abandoned_after_the_timeout(no_nvml, fake_smi):
    fake_smi("exec sleep 30\n")

    with pytest.raises(CollectionError, match="did not answer"):
        detect_gpus(timeout=0.3)


def test_gpus_found_are_reported_with_their_model(no_nvml, fake_smi):
    fake_smi('echo "NVIDIA L4"\n')
    monitor = HostMonitor(Config())

    monitor.refresh_gpu()
    metrics = monitor.metrics()

    assert (metrics["gpu"], metrics["gpuType"]) == (1, "NVIDIA L4")
    parsed = RunnerHealthMetrics.from_dict(metrics)
    assert parsed.gpu == 1
    assert parsed.additional_properties == {}


def test_no_gpu_leaves_gpu_fields_out_of_the_payload(no_nvml, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monitor = HostMonitor(Config())

    monitor.refresh_gpu()
    metrics = monitor.metrics()

    assert "gpu" not in metrics
    assert "gpuType" not in metrics


def test_gpus_seen_once_are_kept_while_nvidia_smi_fails(no_nvml, fake_smi):
    fake_smi('echo "NVIDIA L4"\n')
    monitor = HostMonitor(Config())
    monitor.refresh_gpu()
    fake_smi("exit 9\n")

    monitor.refresh_gpu()

    assert monitor.metrics()["gpu"] == 1
    assert monitor.local_report()["collectors"]["gpu"]["ok"] is False
