"""cloud-init user data of the control plane and the workers: pure functions.

The renderers return the `#cloud-config` text as cloud-init reads it; what EC2 receives is that
text gzip-compressed (`components.render.user_data_encoding`, called by `components.nodes`).

The user data carries no secret: key material and the bootstrap token are read from SSM
by the node itself (node_tools.FETCH_SSM_PARAMETERS), with its instance role, at boot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.render import node_tools, scripts
from components.render.bootstrap import ClusterBootstrap
from components.render.kubeadm import (
    render_control_plane_join_configuration,
    render_init_configuration,
    render_join_configuration,
)
from components.render.yaml_dump import dump_yaml

# kubernetes/release cmd/krel/templates/latest/kubelet/kubelet.service and
# .../kubeadm/10-kubeadm.conf, with /usr/bin -> /usr/local/bin as in kubeadm's
# "without a package manager" install instructions.
KUBELET_SERVICE = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

KUBEADM_DROP_IN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the \
KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, \
the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS \
should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS \
$KUBELET_EXTRA_ARGS
"""

CRICTL_CONFIG = "runtime-endpoint: unix:///run/containerd/containerd.sock\n"
KERNEL_MODULES = "overlay\nbr_netfilter\n"
SYSCTLS = """\
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
"""

# All in Ubuntu 20.04, 22.04 and 24.04 (main or universe). conntrack, socat and ethtool are
# kubeadm preflight checks; ebtables was one until kubeadm 1.31 and costs nothing to keep;
# gettext-base brings envsubst; python3-boto3 runs the SSM fetcher.
PACKAGES: tuple[str, ...] = (
    "ca-certificates",
    "conntrack",
    "containerd",
    "curl",
    "ebtables",
    "ethtool",
    "gettext-base",
    "python3-boto3",
    "socat",
)


def render_control_plane_user_data(
    cluster: ClusterBootstrap,
    api_server_cert_sans: Sequence[str],
    elastic_ip: str | None = None,
    *,
    ca_cert_hash: str | None = None,
    etcd_peers: Sequence[str] = (),
) -> str:
    """User data of the (first) control plane: installs the node, fetches the PKI and runs kubeadm init.

    With `elastic_ip`, the boot first waits (bounded) until that address is the instance's
    public IPv4: associating it swaps the address and cuts connections in flight.

    With `etcd_peers` (the other control planes' addresses of the primary family) and `ca_cert_hash`,
    it also carries the JoinConfiguration and the stale-member cleanup of a joining control plane: a
    replacement of the first control plane of a running cluster joins it instead of running init.
    """
    extra_files = []
    if etcd_peers:
        if ca_cert_hash is None:
            raise ValueError("a first control plane with etcd_peers needs the ca_cert_hash to join a running cluster")
        extra_files = [
            _file(
                scripts.KUBEADM_JOIN_TEMPLATE, render_control_plane_join_configuration(cluster, ca_cert_hash), "0600"
            ),
            _file(scripts.REMOVE_STALE_ETCD_MEMBER_SCRIPT, node_tools.REMOVE_STALE_ETCD_MEMBER, "0700"),
        ]
    return _user_data(
        kubeadm_template=render_init_configuration(cluster, api_server_cert_sans),
        fetches=scripts.control_plane_fetches(cluster.ssm_prefix),
        boot_script=scripts.control_plane_script(cluster, etcd_peers),
        bootcmd=[wait_for_public_ipv4_command(elastic_ip)] if elastic_ip else [],
        extra_files=extra_files,
    )


def wait_for_public_ipv4_command(address: str, tries: int = 90, interval_seconds: int = 2) -> list[str]:
    """A once-per-instance bootcmd polling IMDSv2 until `address` is the public IPv4; it never
    fails the boot (after the bound, apt's retries are the fallback)."""
    imds = scripts.IMDS
    script = (
        f"for _ in $(seq {tries}); do "
        f"token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' {imds}/api/token) && "
        f'[ "$(curl -fsS -H "X-aws-ec2-metadata-token: $token" {imds}/meta-data/public-ipv4)" = {address} ] '
        f"&& exit 0; sleep {interval_seconds}; done; exit 0"
    )
    return ["cloud-init-per", "once", "wait-for-elastic-ip", "bash", "-c", script]


def render_control_plane_join_user_data(cluster: ClusterBootstrap, ca_cert_hash: str, etcd_peers: Sequence[str]) -> str:
    """User data of another control plane: installs the node, fetches the PKI and the token like the
    first, removes the etcd member of the instance it replaces, and joins with `--control-plane`.

    `etcd_peers`: the other control planes' addresses of the primary family."""
    return _user_data(
        kubeadm_template=render_control_plane_join_configuration(cluster, ca_cert_hash),
        fetches=scripts.control_plane_fetches(cluster.ssm_prefix),
        boot_script=scripts.control_plane_join_script(cluster, etcd_peers),
        extra_files=[_file(scripts.REMOVE_STALE_ETCD_MEMBER_SCRIPT, node_tools.REMOVE_STALE_ETCD_MEMBER, "0700")],
    )


def render_worker_user_data(cluster: ClusterBootstrap, ca_cert_hash: str) -> str:
    """User data of a worker: installs the node, fetches the token and runs kubeadm join."""
    return _user_data(
        kubeadm_template=render_join_configuration(cluster, ca_cert_hash),
        fetches=scripts.worker_fetches(cluster.ssm_prefix),
        boot_script=scripts.worker_script(cluster),
    )


def _user_data(
    kubeadm_template: str,
    fetches: Sequence[scripts.FetchEntry],
    boot_script: str,
    bootcmd: Sequence[list[str]] = (),
    extra_files: Sequence[dict[str, Any]] = (),
) -> str:
    document: dict[str, Any] = {
        # The control plane's public IPv4 changes when its Elastic IP is associated, which can
        # cut a download cloud-init has in flight: apt retries instead of giving up.
        "apt": {"conf": 'Acquire::Retries "10";\n'},
        "package_update": True,
        "packages": list(PACKAGES),
        "write_files": [
            _file("/etc/modules-load.d/kubernetes.conf", KERNEL_MODULES),
            _file("/etc/sysctl.d/99-kubernetes.conf", SYSCTLS),
            _file("/etc/crictl.yaml", CRICTL_CONFIG),
            _file("/etc/systemd/system/kubelet.service", KUBELET_SERVICE),
            _file("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN),
            _file(scripts.KUBEADM_TEMPLATE, kubeadm_template, "0600"),
            _file(scripts.FETCH_MANIFEST, scripts.fetch_manifest(fetches), "0600"),
            _file(scripts.FETCH_SCRIPT, node_tools.FETCH_SSM_PARAMETERS, "0755"),
            *extra_files,
            _file(scripts.BOOT_SCRIPT, boot_script, "0700"),
        ],
        "runcmd": [["bash", scripts.BOOT_SCRIPT]],
    }
    if bootcmd:
        document["bootcmd"] = list(bootcmd)
    # The text cloud-init reads. EC2 receives it gzip-compressed and judges that size against its
    # limit (user_data_encoding.encode_user_data, which the nodes call with their names).
    return "#cloud-config\n" + dump_yaml(document)


def _file(path: str, content: str, permissions: str = "0644") -> dict[str, Any]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}
