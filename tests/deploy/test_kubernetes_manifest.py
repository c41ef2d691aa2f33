"""The Kubernetes manifest: a DaemonSet beside the runner, and its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runner_agent.config import load_config

MANIFEST = Path("deploy") / "kubernetes" / "runner-agent-sidecar.yaml"


@pytest.fixture
def documents(repo: Path) -> dict[str, dict[str, Any]]:
    """The manifest's objects by kind."""
    with (repo / MANIFEST).open() as stream:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(stream) if doc}


@pytest.fixture
def pod(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return documents["DaemonSet"]["spec"]["template"]["spec"]


@pytest.fixture
def agent(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    return container


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mount["mountPath"]: mount for mount in container["volumeMounts"]}


def _volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {volume["name"]: volume for volume in pod["volumes"]}


def test_manifest_holds_a_config_map_and_a_daemon_set(documents):
    assert set(documents) == {"ConfigMap", "DaemonSet"}
    daemon_set = documents["DaemonSet"]
    selector = daemon_set["spec"]["selector"]["matchLabels"]
    labels = daemon_set["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_agent_runs_non_root_read_only_without_capabilities(pod, agent):
    pod_context = pod["securityContext"]
    context = agent["securityContext"]

    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def test_probes_ask_healthz_and_readyz(agent):
    liveness = " ".join(agent["livenessProbe"]["exec"]["command"])
    readiness = " ".join(agent["readinessProbe"]["exec"]["command"])

    assert "127.0.0.1:9713/healthz" in liveness
    assert "127.0.0.1:9713/readyz" in readiness


def test_host_docker_socket_and_disk_are_mounted(pod, agent):
    mounts = _mounts(agent)
    volumes = _volumes(pod)

    socket = mounts["/var/run/docker.sock"]
    assert volumes[socket["name"]]["hostPath"]["path"] == "/var/run/docker.sock"
    disk = mounts["/var/lib/docker"]
    assert disk["readOnly"] is True
    assert volumes[disk["name"]]["hostPath"]["path"] == "/var/lib/docker"


def test_identity_is_kept_on_the_node(pod, agent):
    state = _mounts(agent)["/var/lib/runner-agent"]

    assert _volumes(pod)[state["name"]]["hostPath"]["path"] == "/var/lib/runner-agent"


def test_temporary_files_go_to_memory(pod, agent):
    tmp = _mounts(agent)["/tmp"]

    assert _volumes(pod)[tmp["name"]]["emptyDir"]["medium"] == "Memory"


def test_keys_come_from_a_secret_as_files(pod, agent):
    env = {item["name"]: item for item in agent["env"]}
    key_file = env["DAYTONA_API_KEY_FILE"]["value"]
    mounts = _mounts(agent)
    (mount_path,) = [path for path in mounts if key_file.startswith(path + "/")]
    volume = _volumes(pod)[mounts[mount_path]["name"]]

    assert "secret" in volume
    assert volume["secret"]["defaultMode"] == 0o440
    assert not {"DAYTONA_API_KEY", "DAYTONA_RUNNER_TOKEN"} & set(env)


def test_config_map_holds_a_configuration_the_agent_accepts(documents, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(documents["ConfigMap"]["data"]["config.toml"])

    config = load_config(path, env={})

    assert config.lifecycle.on_stop == "cordon"
