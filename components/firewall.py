"""What the node security groups open: a table, not code.

Only what Kubernetes and Cilium need between nodes, the API server to the admin CIDRs, and
the ICMP that path-MTU discovery needs (IPv6 routers never fragment).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NodeRole(enum.Enum):
    CONTROL_PLANE = "control-plane"
    WORKER = "worker"


class Source(enum.Enum):
    CONTROL_PLANE = "control-plane"
    WORKERS = "workers"
    ADMIN = "admin"  # the configured admin CIDRs, both families
    VPC = "vpc"  # the VPC's IPv4 block and its Amazon IPv6 /56
    INTERNET = "internet"  # 0.0.0.0/0 and ::/0 - only for path-MTU ICMP
    API_LOAD_BALANCER = "api-load-balancer"  # the API load balancer's group, when the stack has one


NODES = (Source.CONTROL_PLANE, Source.WORKERS)
BOTH_ROLES = (NodeRole.CONTROL_PLANE, NodeRole.WORKER)
CONTROL_PLANE_ONLY = (NodeRole.CONTROL_PLANE,)


@dataclass(frozen=True)
class Rule:
    name: str
    protocol: str
    """tcp, udp, icmp, icmpv6 (AWS ip_protocol names)."""
    from_port: int
    to_port: int
    to: tuple[NodeRole, ...]
    sources: tuple[Source, ...]
    description: str


RULES: tuple[Rule, ...] = (
    Rule(
        "apiserver",
        "tcp",
        6443,
        6443,
        CONTROL_PLANE_ONLY,
        (*NODES, Source.ADMIN, Source.API_LOAD_BALANCER),
        "kube-apiserver",
    ),
    Rule("etcd", "tcp", 2379, 2380, CONTROL_PLANE_ONLY, (Source.CONTROL_PLANE,), "etcd client and peer"),
    Rule(
        "kcm-sched", "tcp", 10257, 10259, CONTROL_PLANE_ONLY, (Source.CONTROL_PLANE,), "controller-manager, scheduler"
    ),
    Rule("kubelet", "tcp", 10250, 10250, BOTH_ROLES, NODES, "kubelet API (logs, exec, metrics)"),
    Rule("nodeport-tcp", "tcp", 30000, 32767, BOTH_ROLES, (Source.VPC,), "NodePort services"),
    Rule("nodeport-udp", "udp", 30000, 32767, BOTH_ROLES, (Source.VPC,), "NodePort services"),
    Rule("cilium-vxlan", "udp", 8472, 8472, BOTH_ROLES, NODES, "Cilium VXLAN overlay"),
    Rule("cilium-health", "tcp", 4240, 4240, BOTH_ROLES, NODES, "Cilium health checks"),
    Rule("hubble", "tcp", 4244, 4244, BOTH_ROLES, NODES, "Hubble peer"),
    Rule("icmp", "icmp", -1, -1, BOTH_ROLES, NODES, "ICMP between nodes"),
    Rule("icmpv6", "icmpv6", -1, -1, BOTH_ROLES, NODES, "ICMPv6 between nodes"),
    # type 3 code 4 "fragmentation needed" / ICMPv6 type 2 "packet too big".
    Rule("pmtu", "icmp", 3, 4, BOTH_ROLES, (Source.INTERNET,), "IPv4 path-MTU discovery"),
    Rule("pmtu6", "icmpv6", 2, 0, BOTH_ROLES, (Source.INTERNET,), "IPv6 path-MTU discovery"),
)


API_LOAD_BALANCER_RULES: tuple[Rule, ...] = (
    Rule("apiserver", "tcp", 6443, 6443, (), (*NODES, Source.ADMIN), "kube-apiserver through the API load balancer"),
)
"""What the API load balancer's own security group admits (`to` is empty: the group belongs to the
load balancer, not to a node role). Its only egress is 6443 to the control planes' group: traffic
and health checks (`API_LOAD_BALANCER_EGRESS_PORT`)."""
API_LOAD_BALANCER_EGRESS_PORT = 6443


def rules_for(role: NodeRole) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if role in rule.to)
