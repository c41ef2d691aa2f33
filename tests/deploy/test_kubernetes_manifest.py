"""The Kubernetes manifest: the runner's pod, the agent beside it, its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runner_agent.config import Config, load_config

MANIFEST = Path("deploy") / "kubernetes" / "runner-agent-sidecar.yaml"


@pytest.fixture
def documents(repo: Path) -> dict[str, dict[str, Any]]:
    """The manifest's objects by kind."""
    with (repo / MANIFEST).open() as stream:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(stream) if doc}


@pytest.fixture
def pod(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return documents["DaemonSet"]["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {container["name"]: container for container in pod["containers"]}


@pytest.fixture
def agent(pod: dict[str, Any]) -> dict[str, Any]:
    return _containers(pod)["runner-agent"]


@pytest.fixture
def agent_config(documents: dict[str, dict[str, Any]], tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(documents["ConfigMap"]["data"]["config.toml"])
    return load_config(path, env={})


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


def test_the_pod_holds_the_runner_and_the_agent_beside_it(pod):
    containers = _containers(pod)

    assert list(containers) == ["daytona-runner", "runner-agent"]
    assert "restartPolicy" not in containers["runner-agent"]
    assert all(init.get("restartPolicy") != "Always" for init in pod["initContainers"])


def test_the_runner_and_the_agent_drive_the_same_docker(pod):
    volumes = _volumes(pod)
    runner, agent = _containers(pod).values()

    for container in (runner, agent):
        socket = _mounts(container)["/var/run/docker.sock"]
        assert volumes[socket["name"]]["hostPath"]["path"] == "/var/run/docker.sock"


def test_the_pod_runs_on_the_runner_nodes_on_their_network(pod):
    assert pod["nodeSelector"] == {"daytona-runner": "true"}
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"


def test_agent_runs_non_root_read_only_without_capabilities(pod, agent):
    context = agent["securityContext"]

    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] != 0
    assert "runAsNonRoot" not in pod["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def test_probes_ask_healthz_and_readyz(agent):
    liveness = " ".join(agent["livenessProbe"]["exec"]["command"])
    readiness = " ".join(agent["readinessProbe"]["exec"]["command"])

    assert "127.0.0.1:9713/healthz" in liveness
    assert "127.0.0.1:9713/readyz" in readiness


def test_the_hosts_proc_is_mounted_read_only_at_host_proc(pod, agent):
    mount = _mounts(agent)["/host/proc"]

    assert mount["readOnly"] is True
    assert _volumes(pod)[mount["name"]]["hostPath"]["path"] == "/proc"
    assert not pod.get("hostPID", False)


def test_the_agent_reads_the_host_figures_from_host_proc(agent_config):
    assert agent_config.healthcheck.proc_path == "/host/proc"


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


def test_config_map_holds_a_configuration_the_agent_accepts(agent_config):
    assert agent_config.lifecycle.on_stop == "cordon"


def test_the_grace_period_outlasts_the_cordon_on_stop(pod, agent_config):
    grace = pod["terminationGracePeriodSeconds"]

    assert agent_config.lifecycle.on_stop == "cordon"
    assert grace >= agent_config.lifecycle.stop_timeout + 15
