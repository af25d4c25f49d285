"""What the harness takes from the program, and the control plane it starts from it.

Everything here is read from the program's captured graph — the kubeadm configuration in the
control plane's user data (turned into kube-apiserver's command line by the real kubeadm), the
Kubernetes objects the program applies, the DaemonSet's arguments, the CCM's cloud config — so a
change to the program changes what runs.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.pki_layout import KUBERNETES_PKI_DIR
from components.render.bootstrap import placeholder
from components.render.ccm_manifests import DAEMONSET, MOUNT_ROOT
from components.render.user_data_encoding import decode_user_data
from e2e.kube import KINDS, Kube
from e2e.procs import Process, free_port, wait_for
from tools.manifests import HELM_RELEASE, KUBERNETES_PREFIX, manifest_of
from tools.offline.capture import Graph, unwrap_secrets

INSTANCE = "aws:ec2/instance:Instance"
CCM_COMPONENT = "k8sdualstack:ccm:AwsCloudControllerManager"
# The aggregation-layer flags: what an API server "without the requestheader flags" lacks.
AGGREGATION_FLAG_PREFIXES = ("requestheader-", "proxy-client-")


def control_plane_record_name(graph: Graph, cluster_name: str) -> str:
    return f"{cluster_name}-control-plane-node"


def _user_data(graph: Graph, instance_name: str) -> str:
    """The cloud-config the node's cloud-init reads (the program sends it gzip-compressed)."""
    inputs = graph.one(INSTANCE, instance_name).inputs
    value = unwrap_secrets(inputs.get("userDataBase64", inputs.get("userData")))
    if not isinstance(value, str):
        raise TypeError(f"{instance_name}: user data is not known")
    return decode_user_data(value) if "userDataBase64" in inputs else value


def kubeadm_documents(graph: Graph, instance_name: str) -> list[dict[str, Any]]:
    """The kubeadm configuration documents that the node's cloud-init writes."""
    cloud_config = yaml.safe_load(_user_data(graph, instance_name))
    for entry in cloud_config.get("write_files", []):
        content = entry.get("content", "")
        if entry.get("encoding") == "b64":
            content = base64.b64decode(content).decode()
        if "kind: ClusterConfiguration" in content or "kind: JoinConfiguration" in content:
            return [document for document in yaml.safe_load_all(content) if document]
    raise LookupError(f"{instance_name}: no kubeadm configuration in its user data")


def _document(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    for document in documents:
        if document.get("kind") == kind:
            return document
    raise LookupError(f"no {kind} document")


def _flag_map(extra_args: Any) -> dict[str, str]:
    """kubeadm extraArgs as a map: v1beta4 lists of {name, value}, or earlier plain maps."""
    if isinstance(extra_args, list):
        return {str(item["name"]): str(item["value"]) for item in extra_args}
    return {str(key): str(value) for key, value in (extra_args or {}).items()}


@dataclass(frozen=True)
class ControlPlaneConfig:
    documents: list[dict[str, Any]]
    """The control plane's kubeadm documents (Init-, Cluster- and KubeletConfiguration), placeholders kept."""
    node_ip_expression: str | None
    """The kubelet's `--node-ip` with `${NODE_IPV4}`/`${NODE_IPV6}` placeholders, or None."""


def control_plane_config(graph: Graph, cluster_name: str) -> ControlPlaneConfig:
    documents = kubeadm_documents(graph, control_plane_record_name(graph, cluster_name))
    init = _document(documents, "InitConfiguration")
    kubelet_args = _flag_map(init["nodeRegistration"].get("kubeletExtraArgs"))
    return ControlPlaneConfig(documents=documents, node_ip_expression=kubelet_args.get("node-ip"))


def kubeadm_api_server_command(
    kubeadm: Path, config: ControlPlaneConfig, values: Mapping[str, str], work_dir: Path
) -> list[str]:
    """kube-apiserver's command line as kubeadm writes it into the static pod for our configuration.

    The boot script's envsubst is done with `values` (the node's name and addresses, a token);
    `kubeadm init phase control-plane apiserver --dry-run` then writes the manifest into
    KUBEADM_INIT_DRYRUN_DIR (a private directory, nothing under /etc/kubernetes)."""
    return kubeadm_static_pod_command(
        kubeadm, config, values, work_dir, phase=["control-plane", "apiserver"], manifest_name="kube-apiserver.yaml"
    )


def kubeadm_static_pod_command(
    kubeadm: Path,
    config: ControlPlaneConfig,
    values: Mapping[str, str],
    work_dir: Path,
    *,
    phase: list[str],
    manifest_name: str,
) -> list[str]:
    """The command of the static pod `kubeadm init phase <phase> --dry-run` writes as `manifest_name`
    for our configuration (envsubst done with `values`), e.g. `etcd local` -> etcd.yaml."""
    text = yaml.safe_dump_all(config.documents, sort_keys=False)
    for variable, value in values.items():
        text = text.replace(placeholder(variable), value)
    work_dir.mkdir(parents=True, exist_ok=True)
    config_file = work_dir / "kubeadm.yaml"
    config_file.write_text(text)
    dry_run_dir = work_dir / "kubeadm-dry-run"
    dry_run_dir.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBEADM_INIT_DRYRUN_DIR": str(dry_run_dir)}
    subprocess.run(
        [str(kubeadm), "config", "validate", f"--config={config_file}"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    subprocess.run(
        [str(kubeadm), "init", "phase", *phase, f"--config={config_file}", "--dry-run"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    manifest = yaml.safe_load((dry_run_dir / manifest_name).read_text())
    return [str(part) for part in manifest["spec"]["containers"][0]["command"]]


def remap_pki(value: str, pki_dir: Path) -> str:
    return value.replace(KUBERNETES_PKI_DIR, str(pki_dir))


def program_objects(graph: Graph) -> list[dict[str, Any]]:
    """The Kubernetes objects the program applies, in its order, as plain manifests."""
    objects = []
    for record in graph.resources:
        if record.type.startswith(KUBERNETES_PREFIX) and record.type != HELM_RELEASE and record.custom:
            manifest = manifest_of(record)
            if manifest.get("kind") in KINDS or manifest.get("kind") == "DaemonSet":
                objects.append(unwrap_secrets(manifest))
    return objects


def ccm_daemonset_args(objects: list[dict[str, Any]]) -> list[str]:
    for manifest in objects:
        if manifest["kind"] == "DaemonSet" and manifest["metadata"]["name"] == DAEMONSET:
            container = manifest["spec"]["template"]["spec"]["containers"][0]
            return [str(arg) for arg in container["args"]]
    raise LookupError(f"the program applies no DaemonSet {DAEMONSET}")


def remap_mounts(args: list[str], mount_dir: Path) -> list[str]:
    return [arg.replace(MOUNT_ROOT, str(mount_dir)) for arg in args]


def program_cloud_config(graph: Graph) -> str:
    records = graph.by_type(CCM_COMPONENT)
    if len(records) != 1:
        raise LookupError(f"expected one {CCM_COMPONENT}, found {len(records)}")
    return str(records[0].outputs["cloudConfig"])


@dataclass
class ControlPlane:
    """etcd and kube-apiserver on loopback, for one case."""

    etcd: Process
    api_server: Process
    server: str
    admin: Kube

    def stop(self) -> None:
        self.api_server.stop()
        self.etcd.stop()


def start_etcd(etcd_binary: Path, data_dir: Path, log: Path) -> tuple[Process, str]:
    client, peer = free_port(), free_port()
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    process = Process(
        "etcd",
        [
            str(etcd_binary),
            "--name=e2e",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=e2e={peer_url}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        log,
    )
    return process, client_url


def _flag_name(arg: str) -> str:
    return arg.split("=", 1)[0].removeprefix("--")


def api_server_args(
    kubeadm_command: list[str],
    *,
    pki_dir: Path,
    etcd_url: str,
    port: int,
    aggregation_layer: bool,
    etcd_tls: bool = False,
) -> list[str]:
    """kubeadm's kube-apiserver flags, moved onto loopback.

    /etc/kubernetes/pki becomes the private PKI directory; the server binds 127.0.0.1 on a free
    port and advertises the loopback address of the advertised family (no Service endpoints are
    written: they reject loopback); etcd is the harness's own, over plain HTTP on loopback.
    `aggregation_layer=False` drops the requestheader-*/proxy-client-* flags: the field report's
    API server. `etcd_tls=True` keeps kubeadm's etcd client certificate flags (the HA case's etcd
    serves TLS, as kubeadm's stacked etcd does)."""
    replaced = {
        "etcd-servers": etcd_url,
        "secure-port": str(port),
        "bind-address": "127.0.0.1",
        "endpoint-reconciler-type": "none",
        "cert-dir": str(pki_dir / "generated"),
    }
    dropped = set() if etcd_tls else {"etcd-cafile", "etcd-certfile", "etcd-keyfile"}
    args = []
    for arg in kubeadm_command[1:]:
        name = _flag_name(arg)
        if name in dropped or name in replaced:
            continue
        if not aggregation_layer and name.startswith(AGGREGATION_FLAG_PREFIXES):
            continue
        if name == "advertise-address":
            address = ipaddress.ip_address(arg.split("=", 1)[1])
            args.append(f"--advertise-address={'::1' if address.version == 6 else '127.0.0.1'}")
        else:
            args.append(remap_pki(arg, pki_dir))
    return args + [f"--{name}={value}" for name, value in replaced.items()]


def start_control_plane(
    binaries: Mapping[str, Path],
    *,
    kubeadm_command: list[str],
    pki_dir: Path,
    work_dir: Path,
    log_dir: Path,
    aggregation_layer: bool,
) -> ControlPlane:
    etcd, etcd_url = start_etcd(binaries["etcd"], work_dir / "etcd", log_dir / "etcd.log")
    port = free_port()
    api_server = Process(
        "kube-apiserver",
        [
            str(binaries["kube-apiserver"]),
            *api_server_args(
                kubeadm_command, pki_dir=pki_dir, etcd_url=etcd_url, port=port, aggregation_layer=aggregation_layer
            ),
        ],
        log_dir / "kube-apiserver.log",
    )
    server = f"https://127.0.0.1:{port}"
    admin = Kube(server, pki_dir / "ca.crt", pki_dir / "admin.crt", pki_dir / "admin.key")
    plane = ControlPlane(etcd, api_server, server, admin)
    try:
        wait_for("kube-apiserver /readyz", lambda: admin.get("/readyz") == "ok" or None, 120, alive=api_server)
        wait_for("namespace kube-system", lambda: admin.get("/api/v1/namespaces/kube-system"), 60)
    except BaseException:
        plane.stop()
        raise
    return plane


def iter_objects(objects: list[dict[str, Any]], kinds: set[str]) -> Iterator[dict[str, Any]]:
    return (manifest for manifest in objects if manifest["kind"] in kinds)
