"""The policy pack's contents: every rule of every module, importable without starting the pack.

`policies/__main__.py` hands `POLICIES` to `PolicyPack` (whose constructor serves and blocks);
tools/policy_report.py evaluates the same objects offline.
"""

from __future__ import annotations

from typing import Final

from pulumi_policy import Policy

from policies import aws_iam, aws_network, aws_nodes, aws_secrets, aws_topology, k8s_ccm, k8s_rbac, kubelet

PACK_NAME: Final = "k8s-dualstack-aws"
DESCRIPTION: Final = (
    "Stops, before anything is deployed, the misconfigurations of the dual-stack AWS CCM field report "
    "and the AWS basics a security reviewer demands."
)
POLICIES: Final[list[Policy]] = [
    *aws_network.POLICIES,
    *aws_nodes.POLICIES,
    *aws_topology.POLICIES,
    *aws_iam.POLICIES,
    *aws_secrets.POLICIES,
    *kubelet.POLICIES,
    *k8s_ccm.POLICIES,
    *k8s_rbac.POLICIES,
]


def policy_named(name: str) -> Policy:
    """The pack's policy called `name`; the error lists every name."""
    for policy in POLICIES:
        if policy.name == name:
            return policy
    raise KeyError(f"no policy {name!r}; the pack has {', '.join(p.name for p in POLICIES)}")
