"""The engine tier's cluster: what e2e prepares (the render, moto seeded from it, the IMDS stand-in,
the enforcing AWS proxy, etcd and kube-apiserver with kubeadm's flags and the render's CAs), plus
kube-controller-manager, kube-scheduler and kwok (engine/controllers.py), the Node objects
registered as the kubelets would, and the "kubelet" of the CCM's pod (engine/ccm_pod.py).

kwok manages every node: it reports them Ready and moves scheduled pods to Running/Ready. The real
AWS CCM (1.35) initialises the nodes from moto once the program has applied its DaemonSet and kwok
runs its pod: a node keeps the `uninitialized` taint (so the smoke Deployment cannot be scheduled)
until then.
"""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.render.bootstrap import BOOTSTRAP_TOKEN, NODE_IPV4, NODE_IPV6, NODE_NAME, placeholder
from components.versions import Release
from e2e.aws_policies import role_for_proxy
from e2e.aws_proxy import AwsProxy
from e2e.cluster import ControlPlane, kubeadm_static_pod_command, start_control_plane
from e2e.enforcer import Enforcer
from e2e.environment import Environment, Instance, prepare
from e2e.imds import MetadataServer
from e2e.kube import ApiError, Kube
from e2e.objects import node_manifest
from e2e.procs import Process, wait_for
from engine.build import KWOK_STAGES
from engine.build import build as build_engine
from engine.controllers import start_controllers
from tools.iam_check.runner import SimulatorSession

ADMIN_USER = "engine-admin"
ADMIN_GROUP = "system:masters"
EXCLUDE_FROM_LOAD_BALANCERS = "node.kubernetes.io/exclude-from-external-load-balancers"


@dataclass(frozen=True)
class AdminCredentials:
    """A client certificate made for the test (not the render's admin certificate)."""

    cert_pem: str
    key_pem: str


def make_admin_credentials(ca_cert_pem: str, ca_key_pem: str, days: int = 1) -> AdminCredentials:
    """An RSA client certificate for `engine-admin` in `system:masters`, signed by the cluster CA
    (what kubeadm's admin.conf holds, with a name of our own)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise TypeError("the cluster CA key is expected to be RSA")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return AdminCredentials(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


def node_ip(expression: str | None, instance: Instance) -> str | None:
    """The kubelet's `--node-ip` for `instance`, the boot script's placeholders filled in."""
    if expression is None:
        return None
    return expression.replace(placeholder(NODE_IPV4), instance.ipv4).replace(placeholder(NODE_IPV6), instance.ipv6)


def engine_node_manifest(
    instance: Instance, expression: str | None, control_plane: bool, release: Release
) -> dict[str, Any]:
    """e2e's Node as `kubelet --cloud-provider=external` registers it; a control plane also gets
    what kubeadm's mark-control-plane phase adds (its role label, its NoSchedule taint, the
    exclude-from-load-balancers label), which the CCM DaemonSet's nodeSelector and tolerations need."""
    manifest = node_manifest(instance, node_ip(expression, instance))
    if control_plane:
        manifest["metadata"]["labels"] |= {release.control_plane_label: "", EXCLUDE_FROM_LOAD_BALANCERS: ""}
        manifest["spec"]["taints"] += [{"key": key, "effect": "NoSchedule"} for key in release.control_plane_taint_keys]
    return manifest


def control_plane_values(instance: Instance) -> dict[str, str]:
    """The boot script's envsubst values for the control plane (as e2e.environment.prepare uses)."""
    return {
        NODE_NAME: instance.node_name,
        NODE_IPV4: instance.ipv4,
        NODE_IPV6: instance.ipv6,
        BOOTSTRAP_TOKEN: "e2e000.0123456789abcdef",
    }


@dataclass
class EngineCluster:
    env: Environment
    plane: ControlPlane
    proxy: AwsProxy
    admin_credentials: AdminCredentials
    controllers: list[Process]
    services: list[Process | MetadataServer | SimulatorSession]
    work: Path
    log_dir: Path
    plugin_dirs: list[Path]
    """Directories holding the pulumi CLI and its plugins (engine/build.py's output)."""
    pulumi: Path
    control_plane: Instance
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def admin(self) -> Kube:
        return self.plane.admin

    @property
    def ca_cert_pem(self) -> str:
        return (self.env.private_dir / "pki" / "ca.crt").read_text()

    @property
    def front_proxy_ca_cert_pem(self) -> str:
        return (self.env.private_dir / "pki" / "front-proxy-ca.crt").read_text()

    def stop(self) -> None:
        for process in reversed(self.controllers):
            process.stop()
        self.proxy.stop()
        self.plane.stop()
        for service in self.services:
            service.stop()


def start_proxy(env: Environment, control_plane: Instance) -> AwsProxy:
    """The enforcing AWS endpoint (e2e/aws_proxy.py): the control-plane role's rendered policies,
    the role session named after the control plane's instance."""
    authz = env.authorization
    role = role_for_proxy(authz.role, authz.policies, control_plane.instance_id)
    return AwsProxy(env.moto_url, Enforcer(authz.facts, role, authz.state, authz.simulator), authz.state).start()


def _node_ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def start_cluster(stack: str, log_dir: Path) -> EngineCluster:
    """Everything up to kwok reporting the registered nodes Ready (still tainted `uninitialized`)."""
    private_dir = Path(tempfile.mkdtemp(prefix="k8s-dualstack-engine-"))
    env, services = prepare(stack, private_dir, log_dir)
    try:
        engine_binaries = {name: built.path for name, built in build_engine().items()}
        control_plane = next(i for i in env.instances if i.program_name == f"{env.cluster_name}-control-plane-node")
        work = private_dir / "work"
        commands = {
            name: kubeadm_static_pod_command(
                env.binaries.kubeadm,
                env.config,
                control_plane_values(control_plane),
                private_dir / "kubeadm" / name,
                phase=["control-plane", phase],
                manifest_name=f"{name}.yaml",
            )
            for name, phase in (("kube-controller-manager", "controller-manager"), ("kube-scheduler", "scheduler"))
        }
        plane = start_control_plane(
            {"etcd": env.binaries.etcd, "kube-apiserver": env.binaries.kube_apiserver},
            kubeadm_command=env.kubeadm_command,
            pki_dir=private_dir / "pki",
            work_dir=work,
            log_dir=log_dir,
            aggregation_layer=True,
        )
    except BaseException:
        for service in services:
            service.stop()
        raise
    pki = private_dir / "pki"
    cluster = EngineCluster(
        env=env,
        plane=plane,
        proxy=start_proxy(env, control_plane),
        admin_credentials=make_admin_credentials((pki / "ca.crt").read_text(), (pki / "ca.key").read_text()),
        controllers=[],
        services=services,
        work=work,
        log_dir=log_dir,
        plugin_dirs=sorted({path.parent for path in engine_binaries.values()}),
        pulumi=engine_binaries["pulumi"],
        control_plane=control_plane,
        commands={"kube-apiserver": env.kubeadm_command, **commands},
    )
    try:
        cluster.controllers = start_controllers(
            engine_binaries,
            controller_manager_command=commands["kube-controller-manager"],
            scheduler_command=commands["kube-scheduler"],
            server=plane.server,
            pki_dir=pki,
            log_dir=log_dir,
        )
        if not (engine_binaries["kwok"].parent / KWOK_STAGES).exists():
            raise RuntimeError(f"{KWOK_STAGES} missing next to kwok: run `python -m engine.build`")
        register_nodes(cluster)
        names = [instance.node_name for instance in env.instances]
        wait_for(
            "kwok to report every registered node Ready",
            lambda: True if all(_node_ready(cluster.admin.get(f"/api/v1/nodes/{n}")) for n in names) else None,
            120,
            interval=1,
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def register_nodes(cluster: EngineCluster) -> None:
    env = cluster.env
    for instance in env.instances:
        manifest = engine_node_manifest(
            instance, env.config.node_ip_expression, instance == cluster.control_plane, env.release
        )
        try:
            cluster.admin.create(manifest)
        except ApiError as error:
            raise RuntimeError(f"registering node {instance.node_name}: {error}") from None
