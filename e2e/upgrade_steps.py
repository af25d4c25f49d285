"""The steps of the upgrade case (e2e/upgrade.py): an API server on a given etcd, the cluster-side
objects applied as `pulumi up` would change them, the enforcing AWS proxy of a release, and a CCM
that is started only when the program's skew rule allows it.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.render.bootstrap import NODE_IPV4, NODE_IPV6, placeholder
from e2e.aws_policies import role_for_proxy
from e2e.aws_proxy import AwsProxy
from e2e.cases import Case
from e2e.ccm import ccm_command, ccm_environment, mount_files, service_overrides_text, write_ccm_kubeconfig
from e2e.cluster import ControlPlane, api_server_args, iter_objects
from e2e.enforcer import Enforcer
from e2e.environment import Environment, Instance
from e2e.judge import is_initialised
from e2e.kube import ApiError, Kube
from e2e.objects import apply_manifests, node_manifest
from e2e.procs import Process, free_port, wait_for
from e2e.upgrade_judge import RBAC_AND_DATA_KINDS, ccm_start_refusal, content_differs, object_key, removed_objects


@dataclass
class StartedCcm:
    process: Process
    command: list[str]
    log: Path


@dataclass
class CcmGate:
    """Every CCM start the harness considered: the versions and the rule's answer."""

    decisions: list[dict[str, Any]] = field(default_factory=list)

    def decide(self, label: str, api_server_version: str, ccm_version: str) -> str | None:
        refusal = ccm_start_refusal(api_server_version, ccm_version)
        self.decisions.append(
            {
                "ccm": label,
                "api_server_version": api_server_version,
                "ccm_version": ccm_version,
                "allowed": refusal is None,
                "refusal": refusal,
            }
        )
        return refusal


def start_api_server(
    binary: Path, kubeadm_command: list[str], pki_dir: Path, etcd: Process, *, log: Path, port: int | None = None
) -> ControlPlane:
    """kube-apiserver with kubeadm's flags on loopback against the running `etcd` (which outlives it:
    stop the API server alone with `plane.api_server.stop()`), on `port` (default: a free one; the
    upgraded API server takes its predecessor's, as the static pod keeps its address)."""
    port = port or free_port()
    etcd_url = etcd_client_url(etcd)
    args = api_server_args(kubeadm_command, pki_dir=pki_dir, etcd_url=etcd_url, port=port, aggregation_layer=True)
    process = Process("kube-apiserver", [str(binary), *args], log)
    server = f"https://127.0.0.1:{port}"
    admin = Kube(server, pki_dir / "ca.crt", pki_dir / "admin.crt", pki_dir / "admin.key")
    try:
        wait_for("kube-apiserver /readyz", lambda: admin.get("/readyz") == "ok" or None, 120, alive=process)
        wait_for("namespace kube-system", lambda: admin.get("/api/v1/namespaces/kube-system"), 60)
    except BaseException:
        process.stop()
        raise
    return ControlPlane(etcd=etcd, api_server=process, server=server, admin=admin)


def etcd_client_url(etcd: Process) -> str:
    for arg in etcd.argv:
        if arg.startswith("--listen-client-urls="):
            return arg.split("=", 1)[1]
    raise LookupError("etcd was started without --listen-client-urls")


def api_server_version(admin: Kube) -> str:
    """The gitVersion the API server reports on /version."""
    return str(admin.get("/version")["gitVersion"])


def ccm_binary_version(binary: Path) -> str:
    """What `aws-cloud-controller-manager --version` prints (e.g. `Kubernetes v1.35.3`)."""
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    return (done.stdout + done.stderr).strip()


def start_proxy(env: Environment) -> AwsProxy:
    """The enforcing AWS endpoint of this release: its control-plane role's policies, the session
    named after the control plane's instance."""
    authz = env.authorization
    control_plane = next(i for i in env.instances if i.program_name == f"{env.cluster_name}-control-plane-node")
    role = role_for_proxy(authz.role, authz.policies, control_plane.instance_id)
    return AwsProxy(env.moto_url, Enforcer(authz.facts, role, authz.state, authz.simulator), authz.state).start()


def _path(manifest: dict[str, Any]) -> str:
    return f"{Kube.object_path(manifest)}/{manifest['metadata']['name']}"


def apply_release_objects(
    admin: Kube, old: list[dict[str, Any]] | None, new: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """The cluster-side objects of `new` applied over those of `old` as `pulumi up` changes them:
    created when missing, replaced when their content differs, the ones `new` no longer has
    deleted. What was done, by action."""
    wanted = list(iter_objects(new, set(RBAC_AND_DATA_KINDS)))
    actions: dict[str, list[str]] = {"created": [], "replaced": [], "unchanged": [], "deleted": []}
    for manifest in wanted:
        label = "/".join(part for part in object_key(manifest) if part)
        try:
            live = admin.get(_path(manifest))
        except ApiError as error:
            if error.status != 404:
                raise
            apply_manifests(admin, [manifest])
            actions["created"].append(label)
            continue
        if not content_differs(manifest, live):
            actions["unchanged"].append(label)
            continue
        body = {
            **manifest,
            "metadata": {**manifest["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]},
        }
        admin.request("PUT", _path(manifest), body)
        actions["replaced"].append(label)
    if old is not None:
        previous = {object_key(m): m for m in iter_objects(old, set(RBAC_AND_DATA_KINDS))}
        for key in removed_objects(previous.values(), wanted):
            admin.request("DELETE", _path(previous[key]))
            actions["deleted"].append("/".join(part for part in key if part))
    return actions


def start_ccm(
    env: Environment, case: Case, plane: ControlPlane, proxy: AwsProxy, *, work: Path, log: Path
) -> StartedCcm:
    """The release's CCM with its DaemonSet arguments, the files its pod would mount (as the API
    server now holds them, the proxy's service overrides appended) and a fresh ServiceAccount token."""
    base, overrides = service_overrides_text(env, env.ip_families, proxy.url)
    if base != env.cloud_config:
        raise AssertionError("render_cloud_config does not reproduce the program's cloud config")
    mount_dir = work / "mount"
    mount_files(plane.admin, mount_dir, overrides)
    kubeconfig = write_ccm_kubeconfig(env, plane, work)
    command = ccm_command(env, case, mount_dir, kubeconfig, free_port())
    return StartedCcm(Process(f"ccm-{env.release.minor}", command, log, ccm_environment(env, work)), command, log)


def register(admin: Kube, env: Environment, instances: list[Instance]) -> None:
    """Node objects as each instance's kubelet registers them, with the program's --node-ip."""
    expression = env.config.node_ip_expression
    manifests = []
    for instance in instances:
        node_ip = None
        if expression is not None:
            node_ip = expression.replace(placeholder(NODE_IPV4), instance.ipv4)
            node_ip = node_ip.replace(placeholder(NODE_IPV6), instance.ipv6)
        manifests.append(node_manifest(instance, node_ip))
    apply_manifests(admin, manifests)


def wait_initialised(admin: Kube, names: list[str], ccm: Process, seconds: float, what: str) -> float:
    """Until every named node is initialised (provider ID, no uninitialised taint); the seconds it took."""
    started = time.monotonic()

    def done() -> bool | None:
        nodes = [admin.get(f"/api/v1/nodes/{name}") for name in names]
        return True if all(is_initialised(node) for node in nodes) else None

    wait_for(what, done, seconds, interval=1, alive=ccm)
    return time.monotonic() - started
