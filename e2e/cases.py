"""The end-to-end cases: what each changes from the program's setup and what it must show.

A positive case runs the program's PKI, aggregation flags, Secrets, ConfigMap, RBAC, DaemonSet
args, cloud config and --node-ip mode and must initialise every node (the load balancer cases then
give a Service of type LoadBalancer its address); a negative case swaps in one piece of the field
report's setup, or reverts one fix, and must show that failure's log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.settings import IpFamily
from components.versions import NodeIpMode, Release
from e2e.services import LISTENER_TAGS_DENIED


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    """"pass": our setup initialises every node; "fail": the field report's failure appears."""
    description: str
    field_report_rbac: bool = False
    aggregation_layer: bool = True
    field_report_ccm_flags: bool = False
    node_ip_families: tuple[IpFamily, ...] | None = None
    """Override of the cloud config's NodeIPFamilies (None: the program's)."""
    node_ip_mode: NodeIpMode | None = None
    """Override of the release row's kubelet --node-ip mode (None: the program's)."""
    failure: re.Pattern[str] | None = None
    """The log line of the field report's failure that a negative case must show."""
    load_balancer: str | None = None
    """`clb` or `nlb`: once the nodes are initialised, a Service of type LoadBalancer of that kind
    is created; the case waits for its address (or, with `failure`, for the failure)."""
    revert_listener_tag_on_create: bool = False
    """Fix 3 reverted: the control-plane role's CCM policy without CreateListener among the
    `elasticloadbalancing:CreateAction` values of its tag-on-create statement."""
    denials: int = 0
    """How many requests the enforcing proxy must have denied before a negative case is judged
    (the first attempt and the controller's retry, both refused the same way)."""


def cases(release: Release) -> list[Case]:
    return [
        Case(
            name=f"positive-{release.minor}",
            expect="pass",
            description="the program's PKI, aggregation flags, Secrets, ConfigMap, RBAC, DaemonSet args, "
            "cloud config and --node-ip mode",
        ),
        Case(
            name="negative-rbac-v1.20",
            expect="fail",
            description="the field report's RBAC: cloud-provider-aws v1.20's ClusterRole (serviceaccounts "
            "create only, no serviceaccounts/token) instead of the program's roles",
            field_report_rbac=True,
            failure=re.compile(
                r'is forbidden: User "system:serviceaccount:kube-system:cloud-controller-manager"'
                r' cannot \w+ resource "serviceaccounts'
            ),
        ),
        Case(
            name="negative-no-requestheader-flags",
            expect="fail",
            description="the field report's API server without the requestheader/proxy-client flags, and its "
            "CCM flags (no --client-ca-file, no --requestheader-*): the CCM reads the CAs from "
            "extension-apiserver-authentication",
            aggregation_layer=False,
            field_report_ccm_flags=True,
            # klog's structured "Unhandled Error" lines quote the name as \"...\".
            failure=re.compile(
                r'missing content for CA bundle \\?"client-ca::kube-system::'
                r'extension-apiserver-authentication::requestheader-client-ca-file\\?"'
            ),
        ),
        Case(
            name="negative-ipv6-node-ip-without-ipv6-family",
            expect="fail",
            description="the field report's scenario 2: kubelet --node-ip=<IPv6> with NodeIPFamilies = ipv4 "
            "only (the CCM's default), so the CCM reports no IPv6 address",
            node_ip_families=(IpFamily.IPV4,),
            node_ip_mode=NodeIpMode.IPV6,
            failure=re.compile(
                r"failed to get node modifiers from cloud provider: provided node ip for node "
                r'"[^"]+" is not valid: failed to get node address from cloud provider that '
                r"matches ip"
            ),
        ),
        Case(
            name=f"service-clb-{release.minor}",
            expect="pass",
            description="the positive setup plus a Service of type LoadBalancer (a classic ELB, the default): "
            "every AWS call of the CCM judged by the IAM simulator against the control-plane role's policies",
            load_balancer="clb",
        ),
        Case(
            name=f"service-nlb-{release.minor}",
            expect="pass",
            description="the positive setup plus a Service annotated aws-load-balancer-type: nlb: every AWS "
            "call of the CCM judged by the IAM simulator against the control-plane role's policies",
            load_balancer="nlb",
        ),
        Case(
            name="negative-nlb-listener-tags-without-create-action",
            expect="fail",
            description="fix 3 reverted: the CCM policy's tag-on-create statement without CreateListener in "
            "elasticloadbalancing:CreateAction, so the NLB's CreateListener (which carries tags since v1.23) "
            "is denied its elasticloadbalancing:AddTags on the new listener",
            load_balancer="nlb",
            revert_listener_tag_on_create=True,
            failure=LISTENER_TAGS_DENIED,
            denials=2,
        ),
    ]
