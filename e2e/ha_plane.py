"""The HA case's control planes on loopback: per control plane of the program's graph, a stacked
etcd member (e2e/etcd_cluster.py), a kube-apiserver with kubeadm's flags talking TLS to its own
member, and the real AWS CCM with the DaemonSet's arguments (`--leader-elect=true`) talking to that
API server, with its own instance metadata stand-in and enforcing AWS proxy (the role session named
after its instance).

Each CCM runs in its own UTS namespace (`unshare --uts`) with the node's name as hostname, as the
DaemonSet's hostNetwork pod sees it: its leader-election identity is then `<node name>_<uuid>`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from components.render.bootstrap import BOOTSTRAP_TOKEN, NODE_IPV4, NODE_IPV6, NODE_NAME
from components.render.rbac import NAMESPACE, SERVICE_ACCOUNT
from e2e.aws_policies import role_for_proxy
from e2e.aws_proxy import AwsProxy
from e2e.cases import Case
from e2e.ccm import ccm_command, ccm_environment, mount_files, service_overrides_text
from e2e.cluster import api_server_args, kubeadm_static_pod_command
from e2e.enforcer import Enforcer
from e2e.environment import Environment, Instance, start_metadata_server
from e2e.etcd_cluster import LOOPBACK_HOSTS, EtcdCluster, Etcdctl, EtcdMember, write_etcd_pki
from e2e.imds import MetadataServer
from e2e.kube import Kube, write_token_kubeconfig
from e2e.procs import Process, free_port, wait_for


@dataclass
class HaNode:
    """One control plane: its instance, etcd member, API server and CCM."""

    instance: Instance
    member: EtcdMember
    etcd_command: list[str]
    """etcd's command line as kubeadm writes it for this node (before the loopback mapping)."""
    work: Path
    log_dir: Path
    port: int
    imds: MetadataServer
    proxy: AwsProxy
    api_server: Process | None = None
    ccm: Process | None = None
    ccm_argv: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.instance.node_name

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def admin(self, env: Environment) -> Kube:
        pki = env.private_dir / "pki"
        return Kube(self.server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")

    @property
    def ccm_log(self) -> Path:
        return self.log_dir / f"ccm-{self.name}.log"


def control_plane_instances(env: Environment) -> list[Instance]:
    """The control planes in the program's order (`<cluster>-control-plane-node`, `-1`, `-2`, ...)."""
    prefix = f"{env.cluster_name}-control-plane-node"
    found = [i for i in env.instances if i.program_name == prefix or i.program_name.startswith(prefix + "-")]
    return sorted(found, key=lambda i: (len(i.program_name), i.program_name))


def _node_values(instance: Instance) -> dict[str, str]:
    return {
        NODE_NAME: instance.node_name,
        NODE_IPV4: instance.ipv4,
        NODE_IPV6: instance.ipv6,
        BOOTSTRAP_TOKEN: "e2e000.0123456789abcdef",
    }


def _proxy(env: Environment, instance: Instance) -> AwsProxy:
    authz = env.authorization
    role = role_for_proxy(authz.role, authz.policies, instance.instance_id)
    return AwsProxy(env.moto_url, Enforcer(authz.facts, role, authz.state, authz.simulator), authz.state).start()


def _imds(env: Environment, instance: Instance) -> MetadataServer:
    return start_metadata_server(instance, env.region)


def prepare_nodes(env: Environment, work: Path, log_dir: Path) -> list[HaNode]:
    """Per control plane: its PKI directory (the cluster's, plus its etcd certificates), kubeadm's
    etcd command for it, its member on a loopback address, its metadata stand-in and AWS proxy."""
    nodes = []
    for index, instance in enumerate(control_plane_instances(env)):
        node_work = work / f"cp{index}"
        pki_dir = node_work / "pki"
        shutil.copytree(env.private_dir / "pki", pki_dir)
        member = EtcdMember(
            name=instance.node_name,
            host=LOOPBACK_HOSTS[index],
            node_ipv4=instance.ipv4,
            pki_dir=pki_dir,
            data_dir=node_work / "etcd-data",
            log=log_dir / f"etcd-{instance.node_name}.log",
        )
        write_etcd_pki(env.graph, env.cluster_name, member)
        etcd_command = kubeadm_static_pod_command(
            env.binaries.kubeadm,
            env.config,
            _node_values(instance),
            node_work / "kubeadm",
            phase=["etcd", "local"],
            manifest_name="etcd.yaml",
        )
        nodes.append(
            HaNode(
                instance=instance,
                member=member,
                etcd_command=etcd_command,
                work=node_work,
                log_dir=log_dir,
                port=free_port(),
                imds=_imds(env, instance),
                proxy=_proxy(env, instance),
            )
        )
    return nodes


def etcdctl_for(env: Environment, node: HaNode) -> Etcdctl:
    if env.binaries.etcdctl is None:
        raise RuntimeError("no etcdctl was built: e2e/go has no etcdctl module for the etcd release kubernetes pins")
    return Etcdctl(env.binaries.etcdctl, node.member.etcd_pki)


def start_etcd_cluster(env: Environment, nodes: list[HaNode]) -> EtcdCluster:
    """kubeadm init's single member on the first node, then kubeadm join's member add for the others."""
    cluster = EtcdCluster(env.binaries.etcd, etcdctl_for(env, nodes[0]))
    cluster.start_first(nodes[0].member, nodes[0].etcd_command)
    for node in nodes[1:]:
        cluster.join(node.member, node.etcd_command)
    return cluster


def start_api_server(env: Environment, node: HaNode) -> None:
    """kubeadm's kube-apiserver flags (the first control plane's ClusterConfiguration, which the
    joining ones download), with kubeadm's etcd client certificate, against the node's own member."""
    args = api_server_args(
        env.kubeadm_command,
        pki_dir=node.member.pki_dir,
        etcd_url=node.member.client_url,
        port=node.port,
        aggregation_layer=True,
        etcd_tls=True,
    )
    node.api_server = Process(
        f"kube-apiserver {node.name}",
        [str(env.binaries.kube_apiserver), *args],
        node.log_dir / f"kube-apiserver-{node.name}.log",
    )
    admin = node.admin(env)
    wait_for(
        f"kube-apiserver {node.name} /readyz", lambda: admin.get("/readyz") == "ok" or None, 120, alive=node.api_server
    )


def start_ccm(env: Environment, case: Case, node: HaNode) -> None:
    """The DaemonSet's CCM on this node: the pod's mounts with this node's AWS proxy in the cloud
    config, the ServiceAccount's token against this node's API server, the node's hostname."""
    admin = node.admin(env)
    _, overrides_text = service_overrides_text(env, env.ip_families, node.proxy.url)
    mount_dir = node.work / "mount"
    mount_files(admin, mount_dir, overrides_text)
    kubeconfig = node.work / "ccm.kubeconfig"
    write_token_kubeconfig(
        kubeconfig,
        node.server,
        env.private_dir / "pki" / "ca.crt",
        f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        admin.service_account_token(NAMESPACE, SERVICE_ACCOUNT),
    )
    command = ccm_command(env, case, mount_dir, kubeconfig, free_port())
    if shutil.which("unshare") is None:
        raise RuntimeError("the HA case needs util-linux's `unshare` to give each CCM its node's hostname")
    node.ccm_argv = command
    wrapped = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', node.name, *command]
    environment = {**ccm_environment(env, node.work), "AWS_EC2_METADATA_SERVICE_ENDPOINT": node.imds.url}
    node.ccm = Process(f"aws-cloud-controller-manager {node.name}", wrapped, node.ccm_log, environment)


def stop_nodes(nodes: list[HaNode]) -> None:
    for node in nodes:
        for process in (node.ccm, node.api_server):
            if process is not None:
                process.stop()
        node.proxy.stop()
        node.imds.stop()
