"""The two releases of the upgrade case (e2e/upgrade.py) and what they share.

Release N is the stack rendered with `kubernetesVersion` = N as a new stack; release N+1 is the same
stack rendered with N+1 as the program plans an in-place upgrade from N (its deployed version is N's,
so the graph holds the control planes' upgrade and the version gate). Both renders run the real
program under the mock engine, which answers the program's read of the deployed version (the SSM
parameter of components/deployed_state.py) with N's.

What the releases share is what an in-place upgrade keeps: the AWS resources (moto seeded from N's
graph), the control plane's instance (the IMDS stand-in), the PKI (N's; N+1's render must hold the
same CA) and etcd. Each release has its own binaries, kubeadm configuration, Kubernetes objects,
DaemonSet arguments, cloud config and control-plane policies (the enforcing proxy of each CCM).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from components.release_facts import Version
from components.render.bootstrap import BOOTSTRAP_TOKEN, NODE_IPV4, NODE_IPV6, NODE_NAME
from components.settings import StackSettings, parse_settings
from e2e.aws_policies import deployed_control_plane
from e2e.build import build
from e2e.cluster import (
    ControlPlaneConfig,
    control_plane_config,
    kubeadm_api_server_command,
    program_cloud_config,
    program_objects,
)
from e2e.environment import (
    Environment,
    Instance,
    prepare_authorization,
    seed_moto,
    start_metadata_server,
    start_moto,
)
from e2e.imds import MetadataServer
from e2e.pki import write_control_plane_pki
from e2e.procs import Process
from tools.iam_check.runner import SimulatorSession
from tools.offline.capture import Graph, unwrap_secrets
from tools.offline.engine import run_program
from tools.offline.stackfiles import stack_config

VERSION_GATE_INPUT = "expectedVersion"
KEPT_PKI = (
    ("tls:index/selfSignedCert:SelfSignedCert", "ca", "certPem"),
    ("tls:index/selfSignedCert:SelfSignedCert", "front-proxy-ca", "certPem"),
    ("tls:index/privateKey:PrivateKey", "sa", "publicKeyPem"),
)
"""What an in-place upgrade keeps in /etc/kubernetes/pki and N+1's render must therefore hold unchanged."""


@dataclasses.dataclass
class UpgradeEnvironment:
    old: Environment
    new: Environment
    old_settings: StackSettings
    new_settings: StackSettings
    gate_version: str
    """The gitVersion N+1's version gate (components/readiness.py ApiServerVersion) waits for."""
    kubeadm_fresh_command: list[str]
    """kube-apiserver's command for N+1's own kubeadm configuration (a control plane replaced later)."""
    services: list[Process | MetadataServer | SimulatorSession]


def render(stack: str, minor: str, deployed: Version | None) -> Graph:
    """The program for `stack` at `minor`, as it plans with `deployed` recorded as the stack's version."""

    return run_program(
        stack,
        preview=False,
        overrides={"kubernetesVersion": minor},
        deployed_version=str(deployed) if deployed else None,
    )


def settings_for(stack: str, minor: str) -> StackSettings:
    return parse_settings(stack_config(stack, overrides={"kubernetesVersion": minor}), stack)


def gate_version(graph: Graph) -> str:
    """The version the graph's ApiServerVersion gate expects on /version."""
    found = [str(r.inputs[VERSION_GATE_INPUT]) for r in graph.resources if VERSION_GATE_INPUT in r.inputs]
    if len(found) != 1:
        raise LookupError(f"expected one resource with input {VERSION_GATE_INPUT}, found {len(found)}")
    return found[0]


def same_pki_problems(old: Graph, new: Graph, cluster_name: str) -> list[str]:
    """The kept PKI files that N+1's render would change (an in-place upgrade cannot)."""
    problems = []
    for type_token, suffix, key in KEPT_PKI:
        name = f"{cluster_name}-{suffix}"
        before = unwrap_secrets(old.one(type_token, name).state.get(key))
        after = unwrap_secrets(new.one(type_token, name).state.get(key))
        if not before or before != after:
            problems.append(f"{name} {key} differs between the renders")
    return problems


def upgraded_config(old: ControlPlaneConfig, kubernetes_version: str) -> ControlPlaneConfig:
    """N's kubeadm documents with the ClusterConfiguration's kubernetesVersion set to N+1's: what
    `kubeadm upgrade apply` regenerates the static pods from (the cluster's stored configuration,
    the new version, the new kubeadm's defaults)."""
    documents = copy.deepcopy(old.documents)
    clusters = [document for document in documents if document.get("kind") == "ClusterConfiguration"]
    if len(clusters) != 1:
        raise LookupError(f"expected one ClusterConfiguration, found {len(clusters)}")
    clusters[0]["kubernetesVersion"] = f"v{kubernetes_version}"
    return ControlPlaneConfig(documents=documents, node_ip_expression=old.node_ip_expression)


def prepare_upgrade(
    stack: str, old_minor: str, new_minor: str, private_dir: Path, log_root: Path
) -> UpgradeEnvironment:
    old_settings, new_settings = settings_for(stack, old_minor), settings_for(stack, new_minor)
    shared = ("cluster_name", "region", "ip_families")
    differing = [name for name in shared if getattr(old_settings, name) != getattr(new_settings, name)]
    if differing:
        raise RuntimeError(f"the two renders of {stack} differ in {differing}: not an in-place upgrade")
    cluster_name, region = old_settings.cluster_name, old_settings.region
    old_binaries, new_binaries = build(old_minor), build(new_minor)
    old_graph = render(stack, old_minor, deployed=None)
    new_graph = render(stack, new_minor, deployed=old_settings.release.version)
    pki_problems = same_pki_problems(old_graph, new_graph, cluster_name)
    if pki_problems:
        raise RuntimeError(f"N+1's render does not keep N's PKI: {pki_problems}")
    write_control_plane_pki(old_graph, cluster_name, private_dir / "pki")

    services: list[Process | MetadataServer | SimulatorSession] = []
    moto, moto_url = start_moto(region, log_root)
    services.append(moto)
    instances, replayed_ids = seed_moto(old_graph, moto_url, region)
    old_authorization = prepare_authorization(old_graph, moto_url, region, replayed_ids)
    services.append(old_authorization.simulator)
    facts, role = deployed_control_plane(new_graph, replayed_ids)
    new_authorization = dataclasses.replace(old_authorization, facts=facts, role=role, policies=role.policies)
    control_plane = _control_plane_instance(instances, cluster_name)
    imds = start_metadata_server(control_plane, region)
    services.append(imds)
    values = {
        NODE_NAME: control_plane.node_name,
        NODE_IPV4: control_plane.ipv4,
        NODE_IPV6: control_plane.ipv6,
        BOOTSTRAP_TOKEN: "e2e000.0123456789abcdef",
    }
    old_config = control_plane_config(old_graph, cluster_name)
    new_config = control_plane_config(new_graph, cluster_name)
    upgrade_config = upgraded_config(old_config, new_settings.release.kubernetes_version)
    kubeadm_dir = private_dir / "kubeadm"
    old_command = kubeadm_api_server_command(old_binaries.kubeadm, old_config, values, kubeadm_dir / "old")
    new_command = kubeadm_api_server_command(new_binaries.kubeadm, upgrade_config, values, kubeadm_dir / "upgrade")
    fresh_command = kubeadm_api_server_command(new_binaries.kubeadm, new_config, values, kubeadm_dir / "fresh")
    old = Environment(
        graph=old_graph,
        release=old_settings.release,
        binaries=old_binaries,
        cluster_name=cluster_name,
        region=region,
        zone=control_plane.availability_zone,
        ip_families=old_settings.ip_families,
        config=old_config,
        kubeadm_command=old_command,
        objects=program_objects(old_graph),
        cloud_config=program_cloud_config(old_graph),
        moto_url=moto_url,
        imds_url=imds.url,
        instances=instances,
        private_dir=private_dir,
        log_root=log_root,
        authorization=old_authorization,
    )
    new = dataclasses.replace(
        old,
        graph=new_graph,
        release=new_settings.release,
        binaries=new_binaries,
        config=upgrade_config,
        kubeadm_command=new_command,
        objects=program_objects(new_graph),
        cloud_config=program_cloud_config(new_graph),
        authorization=new_authorization,
    )
    return UpgradeEnvironment(
        old=old,
        new=new,
        old_settings=old_settings,
        new_settings=new_settings,
        gate_version=gate_version(new_graph),
        kubeadm_fresh_command=fresh_command,
        services=services,
    )


def _control_plane_instance(instances: list[Instance], cluster_name: str) -> Instance:
    return next(i for i in instances if i.program_name == f"{cluster_name}-control-plane-node")
