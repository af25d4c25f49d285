"""ControlPlane and WorkerPool: Ubuntu EC2 nodes with IPv6, IMDSv2 and kubeadm user data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network_plan import API_SERVER_PORT, endpoint
from components.render.bootstrap import ClusterBootstrap
from components.render.cloudinit import render_control_plane_user_data, render_worker_user_data
from components.render.kubeadm import discovery_hash
from components.render.user_data_encoding import encode_user_data
from components.tags import cluster_tags

# The CCM runs on the host network, so one hop reaches the metadata service while pods
# on the pod network cannot (a container hop would need 2).
IMDS_HOP_LIMIT = 1


@dataclass(frozen=True)
class NodeSpec:
    """What every node of one role shares."""

    instance_type: str
    root_volume_size_gib: int
    ami_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    instance_profile_name: pulumi.Input[str]
    boot_dependencies: Sequence[pulumi.Resource]
    """Resources that must exist before a node boots (the SSM parameters it reads)."""


@dataclass(frozen=True)
class NodeSubnet:
    """A subnet nodes run in, with what its traffic to the internet needs."""

    id: pulumi.Input[str]
    internet_path: Sequence[pulumi.Resource]
    """The subnet's route-table association, that table's default routes and (private subnets)
    the NAT gateway (`DualStackNetwork.internet_path`): the boot downloads from apt, dl.k8s.io
    and GitHub, and cloud-init runs once, so a node must not start before its way out exists."""


def _node(
    name: str,
    *,
    cluster: ClusterBootstrap,
    spec: NodeSpec,
    subnet: NodeSubnet,
    user_data_base64: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    private_ip: str | None = None,
    ipv6_addresses: list[pulumi.Input[str]] | None = None,
    ipv6_address_count: int | None = None,
    replace_on_user_data_change: bool = False,
    ignore_user_data_changes: bool = False,
    address_reservations: Sequence[pulumi.Resource] = (),
) -> aws.ec2.Instance:
    # A newer Ubuntu image must not replace a running node; the control plane keeps its user data too.
    ignored = ["ami", "user_data_base64"] if ignore_user_data_changes else ["ami"]
    boot_after = [*spec.boot_dependencies, *subnet.internet_path, *address_reservations]
    return aws.ec2.Instance(
        name,
        ami=spec.ami_id,
        instance_type=spec.instance_type,
        subnet_id=subnet.id,
        vpc_security_group_ids=[spec.security_group_id],
        iam_instance_profile=spec.instance_profile_name,
        enable_primary_ipv6=True,
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=IMDS_HOP_LIMIT,
            http_protocol_ipv6="enabled",
        ),
        root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
            volume_type="gp3",
            volume_size=spec.root_volume_size_gib,
            encrypted=True,
            delete_on_termination=True,
            tags=cluster_tags(cluster.cluster_name, f"{name}-root"),
        ),
        # The cloud-config gzip-compressed (components/render/user_data_encoding.py): EC2 counts these
        # bytes against its 16 KB limit, cloud-init decompresses them.
        user_data_base64=user_data_base64,
        user_data_replace_on_change=replace_on_user_data_change,
        tags=cluster_tags(cluster.cluster_name, name),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=ignored, depends_on=boot_after)),
        private_ip=private_ip,
        ipv6_addresses=ipv6_addresses,
        ipv6_address_count=ipv6_address_count,
    )


@dataclass(frozen=True)
class ControlPlaneArgs:
    cluster: ClusterBootstrap
    node: NodeSpec
    subnet: NodeSubnet
    private_ipv4: str
    ipv6: pulumi.Input[str]
    """Fixed addresses, known before the instance exists, so certificates and the join
    configuration can name them."""


class ControlPlane(pulumi.ComponentResource):
    instance: aws.ec2.Instance
    nodes: dict[str, aws.ec2.Instance]
    """The one control-plane node by name."""
    public_ip: pulumi.Output[str]
    """Elastic IP of the API server: stable across stop/start, in the API certificate."""
    endpoint: pulumi.Output[str]
    """`https://<elastic ip>:6443`, where pulumi and kubectl reach the API server."""
    ipv6: pulumi.Output[str]

    def __init__(self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:nodes:ControlPlane", name, None, opts)
        cluster = args.cluster
        address = aws.ec2.Eip(
            f"{name}-api",
            domain="vpc",
            tags=cluster_tags(cluster.cluster_name, f"{name}-api"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        node_name = f"{name}-node"
        user_data = pulumi.Output.all(address.public_ip, args.ipv6).apply(
            lambda values: encode_user_data(
                render_control_plane_user_data(
                    cluster, api_server_cert_sans=[values[0], args.private_ipv4, values[1]], elastic_ip=values[0]
                ),
                node=node_name,
            )
        )
        # Explicit reservations: EC2 assigns none of these addresses on its own, so no worker or
        # CCM-made load balancer interface takes them while the node is being replaced (or before
        # it exists); the instance names them itself.
        reservations = [
            aws.ec2.SubnetCidrReservation(
                f"{node_name}-{family}",
                subnet_id=args.subnet.id,
                cidr_block=cidr,
                reservation_type="explicit",
                description=f"{cluster.cluster_name} control plane {family} address",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for family, cidr in (
                ("ipv4", f"{args.private_ipv4}/32"),
                ("ipv6", pulumi.Output.from_input(args.ipv6).apply(lambda address: f"{address}/128")),
            )
        ]
        self.instance = _node(
            node_name,
            cluster=cluster,
            spec=args.node,
            subnet=args.subnet,
            user_data_base64=user_data,
            # The fixed private IP cannot be held by two instances at once.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            private_ip=args.private_ipv4,
            ipv6_addresses=[args.ipv6],
            # New user data would be an in-place update: stop, start, and cloud-init does not run
            # again. The node holds the only etcd; replace it deliberately (README).
            ignore_user_data_changes=True,
            address_reservations=reservations,
        )
        self.nodes = {node_name: self.instance}
        aws.ec2.EipAssociation(
            f"{name}-api",
            allocation_id=address.id,
            instance_id=self.instance.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.public_ip = address.public_ip
        self.endpoint = address.public_ip.apply(lambda ip: f"https://{endpoint(ip, API_SERVER_PORT)}")
        self.ipv6 = pulumi.Output.from_input(args.ipv6)
        self.register_outputs(
            {"instanceId": self.instance.id, "endpoint": self.endpoint, "publicIp": self.public_ip, "ipv6": self.ipv6}
        )


@dataclass(frozen=True)
class WorkerPoolArgs:
    cluster: ClusterBootstrap
    node: NodeSpec
    subnets: Sequence[NodeSubnet]
    """Workers are spread round-robin over these (one per zone)."""
    count: int
    cluster_ca_cert_pem: pulumi.Input[str]


class WorkerPool(pulumi.ComponentResource):
    nodes: dict[str, aws.ec2.Instance]
    """Worker instances by name, `<pool>-<index>`."""

    def __init__(self, name: str, args: WorkerPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:nodes:WorkerPool", name, None, opts)
        names = [f"{name}-{index}" for index in range(args.count)]
        # Pinning the CA's public key in user data lets a worker authenticate the API
        # server before it trusts anything it says (kubeadm token discovery). One encoding for
        # the pool: every worker boots from the same bytes.
        user_data = pulumi.Output.from_input(args.cluster_ca_cert_pem).apply(
            lambda ca: encode_user_data(
                render_worker_user_data(args.cluster, ca_cert_hash=discovery_hash(ca)), node=_pool_label(name, names)
            )
        )
        self.nodes = {
            node_name: _node(
                node_name,
                cluster=args.cluster,
                spec=args.node,
                subnet=args.subnets[index % len(args.subnets)],
                user_data_base64=user_data,
                opts=pulumi.ResourceOptions(parent=self),
                ipv6_address_count=1,
                # cloud-init runs once: a worker with new user data (a rotated CA, a new
                # endpoint) must be a new instance, or it would keep joining the old cluster.
                replace_on_user_data_change=True,
            )
            for index, node_name in enumerate(names)
        }
        self.register_outputs({"instanceIds": [instance.id for instance in self.nodes.values()]})


def _pool_label(pool: str, names: Sequence[str]) -> str:
    """The workers an error about the pool's shared user data is about."""
    if not names:
        return f"worker pool {pool} (no workers)"
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]} ... {names[-1]}"
    return f"{shown} (worker pool {pool}, {len(names)} nodes)"
