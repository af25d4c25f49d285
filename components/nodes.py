"""ControlPlane and WorkerPool: Ubuntu EC2 nodes with IPv6, IMDSv2 and kubeadm user data.

The control planes are instances with fixed addresses, one per zone: the first runs `kubeadm init`,
the others `kubeadm join --control-plane`. The workers are an Auto Scaling group over the worker
subnets of every zone, launched from one launch template; their addresses are unknown at plan time
and each node names itself from the instance metadata at boot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api_endpoint import ApiLoadBalancer
from components.network_plan import API_SERVER_PORT, endpoint
from components.render.bootstrap import ClusterBootstrap
from components.render.cloudinit import (
    render_control_plane_join_user_data,
    render_control_plane_user_data,
    render_worker_user_data,
)
from components.render.kubeadm import discovery_hash
from components.render.user_data_encoding import encode_user_data
from components.settings import IpFamily, WorkerScaling
from components.tags import cluster_tags

# The CCM runs on the host network, so one hop reaches the metadata service while pods
# on the pod network cannot (a container hop would need 2).
IMDS_HOP_LIMIT = 1
ROOT_DEVICE = "/dev/sda1"
"""Canonical's Ubuntu images name their root device /dev/sda1."""
REFRESH_MIN_HEALTHY_PERCENT = 66
"""An instance refresh replaces at most a third of the workers at a time."""
REFRESH_WARMUP_SECONDS = 300
"""A new worker counts as healthy for the refresh 5 minutes after it started: boot, packages and
kubeadm join (`tools/bench/data.py` models ~3.5 min)."""


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


def _ignored_node_changes(replace_on_user_data_change: bool) -> list[str]:
    """Never the AMI lookup. `user_data` is from before the nodes sent gzip (`user_data_base64`):
    ignored, or the first `up` after that change would stop and start a running control plane."""
    if replace_on_user_data_change:
        return ["ami", "user_data"]
    # An ignored input keeps its old value even when the instance is replaced, so a deliberate
    # roll must lift this (ControlPlaneArgs.replace_on_user_data_change).
    return ["ami", "user_data", "user_data_base64"]


def _node(
    name: str,
    *,
    cluster_name: str,
    spec: NodeSpec,
    subnet: NodeSubnet,
    user_data_base64: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    private_ip: str,
    ipv6: pulumi.Input[str],
    address_reservations: Sequence[pulumi.Resource],
    replace_on_user_data_change: bool = False,
) -> aws.ec2.Instance:
    # A newer Ubuntu image must not replace a running node, nor new user data a control plane (it
    # holds etcd): updating it in place would only stop and start it, cloud-init would not run again.
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
            tags=cluster_tags(cluster_name, f"{name}-root"),
        ),
        # The cloud-config gzip-compressed (components/render/user_data_encoding.py): EC2 counts these
        # bytes against its 16 KB limit, cloud-init decompresses them.
        user_data_base64=user_data_base64,
        user_data_replace_on_change=replace_on_user_data_change,
        tags=cluster_tags(cluster_name, name),
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                ignore_changes=_ignored_node_changes(replace_on_user_data_change), depends_on=boot_after
            ),
        ),
        private_ip=private_ip,
        ipv6_addresses=[ipv6],
    )


@dataclass(frozen=True)
class ControlPlaneSeat:
    """Where one control plane sits: its zone's public subnet and its fixed addresses there."""

    zone: str
    subnet: NodeSubnet
    private_ipv4: str
    ipv6: pulumi.Input[str]
    """Fixed addresses, known before the instance exists, so certificates and the join
    configuration can name them."""


@dataclass(frozen=True)
class ControlPlaneArgs:
    cluster_name: str
    cluster: pulumi.Input[ClusterBootstrap]
    """Known once the API endpoint is (`ClusterBootstrap.control_plane_endpoint`: the first control
    plane's private address with an Elastic IP, the load balancer's DNS name with one)."""
    node: NodeSpec
    seats: Sequence[ControlPlaneSeat]
    """One per zone; the first runs `kubeadm init`, the others join it."""
    load_balancer: ApiLoadBalancer | None
    """None: one control plane behind an Elastic IP."""
    cluster_ca_cert_pem: pulumi.Input[str]
    """The joining control planes pin its public key, as the workers do."""
    replace_on_user_data_change: bool = False
    """False: new user data leaves running control planes alone. True (a deliberate roll): it
    replaces them, booting the new user data (settings `controlPlaneUserData: replace`)."""

    def __post_init__(self) -> None:
        if not self.seats:
            raise ValueError("ControlPlaneArgs.seats is empty: a cluster needs a control plane")
        if self.load_balancer is None and len(self.seats) != 1:
            raise ValueError(f"ControlPlaneArgs: {len(self.seats)} control planes need a load balancer, not an EIP")


def control_plane_node_name(component: str, index: int) -> str:
    """`<component>-node` for the first (its name from before there were several), then `-node-<i>`."""
    return f"{component}-node" if index == 0 else f"{component}-node-{index}"


class ControlPlane(pulumi.ComponentResource):
    instance: aws.ec2.Instance
    """The first control plane, which ran `kubeadm init`."""
    instances: list[aws.ec2.Instance]
    """Every control plane, in seat (zone) order."""
    nodes: dict[str, aws.ec2.Instance]
    """The control-plane nodes by name."""
    public_ip: pulumi.Output[str] | None
    """Elastic IP of the API server (stable across stop/start, in the API certificate); None behind
    a load balancer."""
    endpoint: pulumi.Output[str]
    """`https://<elastic ip or load balancer DNS name>:6443`, where pulumi and kubectl reach the API server."""
    host: pulumi.Output[str]
    """The host of `endpoint`."""
    ipv6: pulumi.Output[str]
    """The first control plane's fixed IPv6 address."""
    routes: list[pulumi.Resource]
    """What sends `endpoint`'s traffic to the instances: the Elastic IP's association, or the load
    balancer's listener and a target attachment per control plane."""

    def __init__(self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:nodes:ControlPlane", name, None, opts)
        seats = list(args.seats)
        address = None
        if args.load_balancer is None:
            address = aws.ec2.Eip(
                f"{name}-api",
                domain="vpc",
                tags=cluster_tags(args.cluster_name, f"{name}-api"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.public_ip = address.public_ip
            self.host = address.public_ip
        else:
            self.public_ip = None
            self.host = args.load_balancer.host
        ipv6s = [pulumi.Output.from_input(seat.ipv6) for seat in seats]

        self.instances = []
        self.nodes = {}
        self.routes = [args.load_balancer.listener] if args.load_balancer is not None else []
        for index, seat in enumerate(seats):
            node_name = control_plane_node_name(name, index)
            user_data = self._user_data(args, index, node_name, address, ipv6s)
            instance = _node(
                node_name,
                cluster_name=args.cluster_name,
                spec=args.node,
                subnet=seat.subnet,
                user_data_base64=user_data,
                # The fixed private IP cannot be held by two instances at once.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                private_ip=seat.private_ipv4,
                ipv6=seat.ipv6,
                address_reservations=self._reservations(args.cluster_name, node_name, seat),
                replace_on_user_data_change=args.replace_on_user_data_change,
            )
            self.instances.append(instance)
            self.nodes[node_name] = instance
            if args.load_balancer is not None:
                attachment = aws.lb.TargetGroupAttachment(
                    f"{node_name}-api",
                    target_group_arn=args.load_balancer.target_group.arn,
                    target_id=instance.id,
                    port=API_SERVER_PORT,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.routes.append(attachment)
        self.instance = self.instances[0]
        if address is not None:
            association = aws.ec2.EipAssociation(
                f"{name}-api",
                allocation_id=address.id,
                instance_id=self.instance.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.routes.append(association)
        self.endpoint = self.host.apply(lambda host: f"https://{endpoint(host, API_SERVER_PORT)}")
        self.ipv6 = ipv6s[0]
        self.register_outputs(
            {
                "instanceId": self.instance.id,
                "instanceIds": [instance.id for instance in self.instances],
                "endpoint": self.endpoint,
                "host": self.host,
                "publicIp": self.public_ip,
                "ipv6": self.ipv6,
            }
        )

    def _user_data(
        self,
        args: ControlPlaneArgs,
        index: int,
        node_name: str,
        address: aws.ec2.Eip | None,
        ipv6s: Sequence[pulumi.Output[str]],
    ) -> pulumi.Output[str]:
        ipv4s = [seat.private_ipv4 for seat in args.seats]

        def encode(cloud_config: str) -> str:
            return encode_user_data(cloud_config, node=node_name)

        if address is not None:
            # One control plane: the Elastic IP in its certificate, and the boot waits for it.
            return pulumi.Output.all(args.cluster, address.public_ip, ipv6s[0]).apply(
                lambda values: encode(
                    render_control_plane_user_data(
                        values[0], api_server_cert_sans=[values[1], ipv4s[0], values[2]], elastic_ip=values[1]
                    )
                )
            )
        assert args.load_balancer is not None
        if index == 0:
            # The load balancer's name and every control plane's addresses: kubeadm init uploads this
            # ClusterConfiguration and the joining control planes issue their certificates from it.
            # With others, it can join them too: a replacement of this node must not start a new cluster.
            return pulumi.Output.all(args.cluster, args.load_balancer.host, args.cluster_ca_cert_pem, *ipv6s).apply(
                lambda values: encode(
                    render_control_plane_user_data(
                        values[0],
                        api_server_cert_sans=[values[1], *ipv4s, *values[3:]],
                        ca_cert_hash=discovery_hash(values[2]),
                        etcd_peers=_etcd_peers(values[0], ipv4s, values[3:], index),
                    )
                )
            )
        return pulumi.Output.all(args.cluster, args.cluster_ca_cert_pem, *ipv6s).apply(
            lambda values: encode(
                render_control_plane_join_user_data(
                    values[0],
                    ca_cert_hash=discovery_hash(values[1]),
                    etcd_peers=_etcd_peers(values[0], ipv4s, values[2:], index),
                )
            )
        )

    def _reservations(self, cluster_name: str, node_name: str, seat: ControlPlaneSeat) -> list[pulumi.Resource]:
        # Explicit reservations: EC2 assigns none of these addresses on its own, so no worker or
        # CCM-made load balancer interface takes them while the node is being replaced (or before
        # it exists); the instance names them itself.
        return [
            aws.ec2.SubnetCidrReservation(
                f"{node_name}-{family}",
                subnet_id=seat.subnet.id,
                cidr_block=cidr,
                reservation_type="explicit",
                description=f"{cluster_name} control plane {family} address",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for family, cidr in (
                ("ipv4", f"{seat.private_ipv4}/32"),
                ("ipv6", pulumi.Output.from_input(seat.ipv6).apply(lambda address: f"{address}/128")),
            )
        ]


def _etcd_peers(cluster: ClusterBootstrap, ipv4s: Sequence[str], ipv6s: Sequence[str], index: int) -> list[str]:
    """The other control planes' addresses of the family etcd advertises (the primary one)."""
    addresses = ipv4s if cluster.ip_families[0] is IpFamily.IPV4 else ipv6s
    return [address for other, address in enumerate(addresses) if other != index]


def worker_pool_label(pool: str) -> str:
    """What an error about the workers' shared user data names: every worker boots from it."""
    return f"{pool} (the launch template of every worker in Auto Scaling group {pool})"


@dataclass(frozen=True)
class WorkerPoolArgs:
    cluster_name: str
    cluster: pulumi.Input[ClusterBootstrap]
    node: NodeSpec
    subnets: Sequence[NodeSubnet]
    """The worker subnet of every zone; the group spreads the workers over them."""
    scaling: WorkerScaling
    cluster_ca_cert_pem: pulumi.Input[str]


class WorkerPool(pulumi.ComponentResource):
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    group_name: pulumi.Output[str]
    """The Auto Scaling group's name: scale it by changing workerDesiredCapacity (README)."""

    def __init__(self, name: str, args: WorkerPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:nodes:WorkerPool", name, None, opts)
        node, tags = args.node, cluster_tags(args.cluster_name, name)
        # Pinning the CA's public key in user data lets a worker authenticate the API server before
        # it trusts anything it says (kubeadm token discovery). Every worker boots from these bytes.
        user_data = pulumi.Output.all(args.cluster, args.cluster_ca_cert_pem).apply(
            lambda values: encode_user_data(
                render_worker_user_data(values[0], ca_cert_hash=discovery_hash(values[1])),
                node=worker_pool_label(name),
            )
        )
        self.launch_template = aws.ec2.LaunchTemplate(
            name,
            image_id=node.ami_id,
            instance_type=node.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=node.instance_profile_name),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
                http_protocol_ipv6="enabled",
            ),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    security_groups=[node.security_group_id],
                    ipv6_address_count=1,
                    primary_ipv6="true",
                    delete_on_termination="true",
                )
            ],
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3",
                        volume_size=node.root_volume_size_gib,
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags=cluster_tags(args.cluster_name, f"{name}-{suffix}")
                )
                for kind, suffix in (("instance", "node"), ("volume", "root"))
            ],
            # The cloud-config gzip-compressed, as for the control planes (user_data_encoding.py).
            user_data=user_data,
            update_default_version=True,
            tags=tags,
            # A newer Ubuntu image must not roll the workers; new user data does (a new version).
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["image_id"]),
        )
        subnets = list(args.subnets)
        self.group = aws.autoscaling.Group(
            name,
            vpc_zone_identifiers=[subnet.id for subnet in subnets],
            min_size=args.scaling.min_size,
            max_size=args.scaling.max_size,
            desired_capacity=args.scaling.desired_capacity,
            # The version number, not $Latest: a new template version is a diff, and the diff starts
            # the instance refresh (cloud-init runs once, so a worker with new user data must be new).
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=REFRESH_MIN_HEALTHY_PERCENT,
                    instance_warmup=str(REFRESH_WARMUP_SECONDS),
                ),
            ),
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in cluster_tags(args.cluster_name, f"{name}-node").items()
            ],
            # The workers' boot reads the join token (parameter, key, IAM policies) and downloads
            # through every worker subnet's way out.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*node.boot_dependencies, *(r for subnet in subnets for r in subnet.internet_path)],
            ),
        )
        self.group_name = self.group.name
        self.register_outputs(
            {
                "launchTemplate": self.launch_template.id,
                "group": self.group.arn,
                "groupName": self.group_name,
            }
        )
