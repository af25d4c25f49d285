"""ApiLoadBalancer: the API server's endpoint when there is more than one control plane.

An internet-facing, dual-stack Network Load Balancer in the public subnet of every zone, with its
own security group (`components/firewall.py` API_LOAD_BALANCER_RULES: 6443 from the admin CIDRs and
the nodes' groups only), a TCP 6443 listener and a target group of the control-plane instances.
Its DNS name is the cluster's endpoint everywhere: kubeadm's `controlPlaneEndpoint` and the joins,
the API server certificate, the kubeconfig, the readiness gate and Cilium's `k8sServiceHost`.

Client IP preservation is off: with it on, a control plane that reaches the API server through the
load balancer (kubeadm on the first node, the kubelet, Cilium) is sometimes sent to itself, and a
connection whose source and destination are the same address fails (docs/reference/aws.md,
"API load balancer"). The health check asks `/readyz` over HTTPS: a target gets traffic only once
its API server is ready, not merely listening.

The single-control-plane stacks keep an Elastic IP instead (`components/nodes.py` ControlPlane).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network_plan import API_SERVER_PORT
from components.tags import cluster_tags

HEALTH_CHECK_PATH = "/readyz"
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_TIMEOUT_SECONDS = 5
"""Below the interval (a TLS handshake and /readyz on the node take milliseconds)."""
HEALTH_CHECK_THRESHOLD = 2
"""Healthy (and unhealthy) after 2 checks 10 s apart: a booting control plane gets traffic ~20 s
after its API server is ready; a failed one leaves in ~20 s."""
DEREGISTRATION_DELAY_SECONDS = 30
"""A replaced control plane's connections drain for 30 s (the default is 300)."""


@dataclass(frozen=True)
class ApiLoadBalancerArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """The public subnet of every zone: the load balancer has a node (and addresses) in each."""
    security_group_id: pulumi.Input[str]
    """`DualStackNetwork.api_load_balancer_group`: the control planes admit 6443 from it."""

    def __post_init__(self) -> None:
        if len(self.subnet_ids) < 2:
            raise ValueError(f"ApiLoadBalancerArgs.subnet_ids: {len(self.subnet_ids)} subnets, allowed is 2 or more")


class ApiLoadBalancer(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    """The control planes register here (`ControlPlane` makes one attachment per instance)."""
    listener: aws.lb.Listener
    host: pulumi.Output[str]
    """The load balancer's DNS name (A and AAAA records), known once it exists."""
    url: pulumi.Output[str]
    """`https://<dns name>:6443`."""

    def __init__(self, name: str, args: ApiLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:endpoint:ApiLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = cluster_tags(args.cluster_name, name)
        self.load_balancer = aws.lb.LoadBalancer(
            name,
            internal=False,
            load_balancer_type="network",
            ip_address_type="dualstack",
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            enable_cross_zone_load_balancing=True,
            tags=tags,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            name,
            vpc_id=args.vpc_id,
            target_type="instance",
            protocol="TCP",
            port=API_SERVER_PORT,
            preserve_client_ip="false",
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS",
                port=str(API_SERVER_PORT),
                path=HEALTH_CHECK_PATH,
                matcher="200",
                interval=HEALTH_CHECK_INTERVAL_SECONDS,
                timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
                healthy_threshold=HEALTH_CHECK_THRESHOLD,
                unhealthy_threshold=HEALTH_CHECK_THRESHOLD,
            ),
            tags=tags,
            opts=child,
        )
        self.listener = aws.lb.Listener(
            name,
            load_balancer_arn=self.load_balancer.arn,
            port=API_SERVER_PORT,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=tags,
            opts=child,
        )
        self.host = self.load_balancer.dns_name
        self.url = self.host.apply(lambda host: f"https://{host}:{API_SERVER_PORT}")
        self.register_outputs(
            {
                "dnsName": self.host,
                "url": self.url,
                "loadBalancerArn": self.load_balancer.arn,
                "targetGroupArn": self.target_group.arn,
            }
        )
