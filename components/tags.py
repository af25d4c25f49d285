"""Every AWS tag map of the program comes from here.

The external AWS CCM finds the cluster's instances, subnets, security groups and route
tables by `kubernetes.io/cluster/<cluster id>`, and picks load-balancer subnets by the
`kubernetes.io/role/(internal-)elb` role tags (cloud-provider-aws pkg/providers/v1/tags.go).
"""

from __future__ import annotations

import enum

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
OWNED = "owned"
MANAGED_BY_KEY = "managed-by"
MANAGED_BY = "k8s-dualstack-aws"


class SubnetTier(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"

    @property
    def elb_role_tag(self) -> str:
        return "kubernetes.io/role/elb" if self is SubnetTier.PUBLIC else "kubernetes.io/role/internal-elb"


def cluster_tag_key(cluster_name: str) -> str:
    return f"{CLUSTER_TAG_PREFIX}{cluster_name}"


def cluster_tags(cluster_name: str, name: str, **extra: str) -> dict[str, str]:
    """Tags of a resource the cluster owns: its Name, the cluster ownership tag, and `extra`."""
    return {
        "Name": name,
        cluster_tag_key(cluster_name): OWNED,
        MANAGED_BY_KEY: MANAGED_BY,
        **extra,
    }


def subnet_tags(cluster_name: str, name: str, tier: SubnetTier) -> dict[str, str]:
    return cluster_tags(cluster_name, name, **{tier.elb_role_tag: "1", "tier": tier.value})
