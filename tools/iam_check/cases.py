"""Every case the IAM tier judges for a stack.

1. CCM calls (control plane): each row of the release's call table (`ccm_calls`), expected Allowed.
2. Least privilege: requests no node needs, expected denied. The control plane may not tag,
   open or delete a security group that is not the cluster's (no cluster tag, another VPC,
   another cluster's), may not put the cluster tag on anything but a security group of the cluster
   VPC (nor any other key), may not delete or change load balancers and target groups without the
   cluster tag or with another cluster's, may not create a group in another VPC nor another
   service's linked role. The worker may make none of the CCM's mutating calls.
3. SSM access: each role x each SSM parameter of the stack (and two of a neighbouring cluster):
   ssm:GetParameter on the parameter and, for a SecureString under a customer-managed key,
   kms:Decrypt via SSM with the parameter's ARN as encryption context, judged with the key policy.
   Under the account's default aws/ssm key SSM decrypts for anyone GetParameter allows, so the read
   is the GetParameter decision. Expected: the control plane reads the PKI (components/pki_layout.py)
   and the bootstrap token, a worker only the token, nobody another cluster's parameters (judged on
   GetParameter: that cluster's key policy is not in this render).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from components.pki_layout import CONTROL_PLANE_FILES, bootstrap_token_parameter
from components.versions import Release
from tools.iam_check.ccm_calls import ReleaseCall, Tags, Target, release_calls
from tools.iam_check.model import Case, Category, Request, Simulation
from tools.iam_check.requests import (
    DATA_GAP_ELB_ADD_TAGS,
    KMS_CONTEXT_GAP,
    LOAD_BALANCER_NAME,
    OTHER_VPC_ID,
    OWNED,
    PARAMETER_ARN_KEY,
    Resource,
    build_request,
    data_gap_for,
    decrypt_context,
    elb_arn,
    resolve,
    security_group,
    tag_set,
)
from tools.iam_check.stack_facts import RoleFacts, StackFacts, other_cluster_prefix

CONTROL_PLANE = "control-plane"
WORKER = "worker"
PKI_SOURCE = "components/pki_layout.py (CONTROL_PLANE_FILES, bootstrap_token_parameter)"
SSM_DEFAULT_KEY = (
    "SecureString under the account's aws/ssm key: SSM decrypts for any principal ssm:GetParameter allows "
    "(docs/reference/aws.md, 'SSM parameters and KMS')"
)


class _Ids:
    """Unique simulation IDs within one batch."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}#{next(self._counter)}"


def _simulation(
    ids: _Ids, role: RoleFacts, request: Request, resource: Resource, resource_policy: dict[str, object] | None = None
) -> Simulation:
    data_gap = data_gap_for(request.action, resource)
    keep = tuple(key for key in request.context if key == PARAMETER_ARN_KEY)
    return Simulation(ids(), request, role.policies, resource_policy, data_gap, keep, KMS_CONTEXT_GAP if keep else "")


def _ccm_case(facts: StackFacts, role: RoleFacts, row: ReleaseCall, ids: _Ids, expect: bool) -> Iterator[Case]:
    call = row.call
    if call.instance_type_pattern and not any(re.match(call.instance_type_pattern, t) for t in facts.instance_types):
        return
    groups = facts.node_security_groups if call.target is Target.NODE_SG else (None,)
    for group in groups:
        resource = resolve(call.target, facts, group)
        request = build_request(
            facts, role, call.action, resource, request_tags=tag_set(call.tags, facts), create_action=call.create_action
        )
        tagged = f" with tags [{call.tags.value}]" if call.tags is not Tags.NONE else ""
        create = f", CreateAction={call.create_action}" if call.create_action else ""
        yield Case(
            Category.CCM if expect else Category.LEAST_PRIVILEGE,
            role.key,
            f"{call.flow.value}: {call.action} on {resource.description or resource.arn}{tagged}{create}",
            (_simulation(ids, role, request, resource),),
            expect_allowed=expect,
            source=row.source,
            note=call.note,
        )


def ccm_cases(facts: StackFacts, release: Release, ids: _Ids) -> list[Case]:
    role = facts.roles[CONTROL_PLANE]
    return [case for row in release_calls(release) for case in _ccm_case(facts, role, row, ids, expect=True)]


def worker_cases(facts: StackFacts, release: Release, ids: _Ids) -> list[Case]:
    """The worker may make none of the CCM's mutating calls."""
    worker = facts.roles[WORKER]
    seen: set[tuple[str, Target, Tags, str | None]] = set()
    cases: list[Case] = []
    for row in release_calls(release):
        call = row.call
        key = (call.action, call.target, call.tags, call.create_action)
        if ":Describe" in call.action or key in seen:
            continue
        seen.add(key)
        cases += _ccm_case(facts, worker, row, ids, expect=False)
    return cases


@dataclass(frozen=True)
class Foreign:
    """A counter-example: a request the control plane must not be allowed."""

    title: str
    action: str
    resource: Resource
    request_tags: Mapping[str, str] | None = None
    extra: Mapping[str, str] | None = None


def _foreign_requests(facts: StackFacts) -> list[Foreign]:
    cluster = facts.cluster_tag_key
    other_cluster = {f"kubernetes.io/cluster/{facts.cluster_name}-other": OWNED}
    claim = {cluster: OWNED}
    foreign_sg = security_group(facts, "sg-0aa11bb22cc33dd44", {"Name": "database"}, facts.vpc_id, "")
    other_vpc_sg = security_group(facts, "sg-0bb22cc33dd44ee55", {}, OTHER_VPC_ID, "")
    other_cluster_sg = security_group(facts, "sg-0cc33dd44ee55ff66", other_cluster, OTHER_VPC_ID, "")
    other_vpc = Resource(facts.arn("ec2", f"vpc/{OTHER_VPC_ID}"), {}, vpc_id=OTHER_VPC_ID)
    instance = Resource(facts.arn("ec2", "instance/i-0fedcba9876543210"), {"Name": "bastion"})
    subnet = Resource(facts.arn("ec2", "subnet/subnet-0a1b2c3d4e5f60718"), {"Name": "shared"})
    foreign_clb = Resource(elb_arn(facts, "loadbalancer/prod-web"), {"team": "web"})
    foreign_nlb = Resource(elb_arn(facts, "loadbalancer/net/prod-api/0123456789abcdef"), {"team": "api"})
    foreign_tg = Resource(
        elb_arn(facts, "targetgroup/prod-api/0123456789abcdef"), {"team": "api"}, data_gap=DATA_GAP_ELB_ADD_TAGS
    )
    other_clb = Resource(elb_arn(facts, f"loadbalancer/{LOAD_BALANCER_NAME[:-1]}0"), other_cluster)
    other_nlb = Resource(
        elb_arn(facts, "loadbalancer/net/a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5/fedcba9876543210"), other_cluster
    )
    other_tg = Resource(elb_arn(facts, "targetgroup/k8s-default-web-0a0b0c0d0e/fedcba9876543210"), other_cluster)
    # Named like ours (k8s-*), tagged by another cluster's CCM or by the AWS Load Balancer Controller.
    other_k8s_tgs = [
        Resource(
            elb_arn(facts, f"targetgroup/k8s-default-api-{index}a1b2c3d4e/0123456789abcde{index}"),
            tags,
            data_gap=DATA_GAP_ELB_ADD_TAGS,
        )
        for index, tags in enumerate(
            (
                {**other_cluster, "kubernetes.io/service-name": "default/api"},
                {"elbv2.k8s.aws/cluster": f"{facts.cluster_name}-other", "ingress.k8s.aws/stack": "default/api"},
            )
        )
    ]
    return [
        Foreign(
            "tag a foreign security group in the cluster VPC (other key)", "ec2:CreateTags", foreign_sg, {"Name": "x"}
        ),
        Foreign(
            "claim a foreign security group in the cluster VPC with the cluster tag plus another key",
            "ec2:CreateTags",
            foreign_sg,
            {cluster: OWNED, "team": "x"},
        ),
        Foreign("claim an untagged security group in another VPC", "ec2:CreateTags", other_vpc_sg, claim),
        Foreign("claim another cluster's security group", "ec2:CreateTags", other_cluster_sg, claim),
        Foreign("claim a foreign instance (not a security group)", "ec2:CreateTags", instance, claim),
        Foreign("claim a foreign subnet (not a security group)", "ec2:CreateTags", subnet, claim),
        Foreign("claim another VPC (not a security group)", "ec2:CreateTags", other_vpc, claim),
        *(
            Foreign(f"{verb} a {what}", action, group)
            for action, verb in (
                ("ec2:DeleteSecurityGroup", "delete"),
                ("ec2:AuthorizeSecurityGroupIngress", "open"),
                ("ec2:RevokeSecurityGroupIngress", "change the rules of"),
            )
            for group, what in (
                (foreign_sg, "security group without the cluster tag in the cluster VPC"),
                (other_vpc_sg, "security group in another VPC"),
                (other_cluster_sg, "security group of another cluster"),
            )
        ),
        Foreign("create a security group in another VPC", "ec2:CreateSecurityGroup", other_vpc),
        Foreign("delete an untagged classic ELB", "elasticloadbalancing:DeleteLoadBalancer", foreign_clb),
        Foreign("delete an untagged NLB", "elasticloadbalancing:DeleteLoadBalancer", foreign_nlb),
        Foreign("delete another cluster's classic ELB", "elasticloadbalancing:DeleteLoadBalancer", other_clb),
        Foreign("delete another cluster's NLB", "elasticloadbalancing:DeleteLoadBalancer", other_nlb),
        Foreign(
            "reconfigure another cluster's classic ELB",
            "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
            other_clb,
        ),
        Foreign("change another cluster's NLB", "elasticloadbalancing:ModifyLoadBalancerAttributes", other_nlb),
        Foreign("delete another cluster's target group", "elasticloadbalancing:DeleteTargetGroup", other_tg),
        Foreign("register targets in another cluster's target group", "elasticloadbalancing:RegisterTargets", other_tg),
        Foreign(
            "claim an untagged classic ELB (standalone AddTags)", "elasticloadbalancing:AddTags", foreign_clb, claim
        ),
        Foreign("claim an untagged NLB (standalone AddTags)", "elasticloadbalancing:AddTags", foreign_nlb, claim),
        Foreign(
            "claim an untagged target group (standalone AddTags)", "elasticloadbalancing:AddTags", foreign_tg, claim
        ),
        Foreign(
            "claim another cluster's k8s-* target group",
            "elasticloadbalancing:AddTags",
            other_k8s_tgs[0],
            {**claim, "kubernetes.io/service-name": "default/api"},
        ),
        Foreign(
            "claim the AWS Load Balancer Controller's k8s-* target group",
            "elasticloadbalancing:AddTags",
            other_k8s_tgs[1],
            {**claim, "kubernetes.io/service-name": "default/api"},
        ),
        Foreign(
            "create another service's linked role",
            "iam:CreateServiceLinkedRole",
            Resource(
                facts.arn(
                    "iam",
                    "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                    region=False,
                )
            ),
            extra={"iam:AWSServiceName": "autoscaling.amazonaws.com"},
        ),
    ]


def least_privilege_cases(facts: StackFacts, ids: _Ids) -> list[Case]:
    role = facts.roles[CONTROL_PLANE]
    cases = []
    for foreign in _foreign_requests(facts):
        request = build_request(
            facts, role, foreign.action, foreign.resource, request_tags=foreign.request_tags, extra=foreign.extra
        )
        cases.append(
            Case(
                Category.LEAST_PRIVILEGE,
                role.key,
                f"{foreign.title}: {foreign.action}",
                (_simulation(ids, role, request, foreign.resource),),
                expect_allowed=False,
                source="least privilege (docs/reference/aws.md, 'The CCM's IAM actions'; README, Identity)",
            )
        )
    return cases


def _expected_readers(facts: StackFacts) -> dict[str, set[str]]:
    token = bootstrap_token_parameter(facts.ssm_prefix)
    pki = {node_file.parameter_name(facts.ssm_prefix) for node_file in CONTROL_PLANE_FILES}
    return {CONTROL_PLANE: {token, *pki}, WORKER: {token}}


def ssm_access_cases(facts: StackFacts, ids: _Ids) -> list[Case]:
    readers = _expected_readers(facts)
    other = other_cluster_prefix(facts)
    foreign = [f"{other}/pki/ca.key", bootstrap_token_parameter(other)]
    cases: list[Case] = []
    for role_key, role in sorted(facts.roles.items()):
        for parameter in facts.parameters:
            resource = Resource(parameter.arn)
            get = build_request(facts, role, "ssm:GetParameter", resource)
            simulations = [_simulation(ids, role, get, resource)]
            note = ""
            if parameter.secure and parameter.key is not None:
                key = Resource(parameter.key.arn)
                decrypt = build_request(facts, role, "kms:Decrypt", key, extra=decrypt_context(facts, parameter.arn))
                simulations.append(_simulation(ids, role, decrypt, key, parameter.key.policy))
                note = f"SecureString under {parameter.key.logical_name}: GetParameter and Decrypt via SSM"
            elif parameter.secure:
                note = SSM_DEFAULT_KEY
            cases.append(
                Case(
                    Category.SSM_ACCESS,
                    role_key,
                    f"read {parameter.name}",
                    tuple(simulations),
                    expect_allowed=parameter.name in readers.get(role_key, set()),
                    source=PKI_SOURCE,
                    note=note,
                )
            )
        for name in foreign:
            resource = Resource(facts.arn("ssm", f"parameter/{name.lstrip('/')}"))
            get = build_request(facts, role, "ssm:GetParameter", resource)
            cases.append(
                Case(
                    Category.SSM_ACCESS,
                    role_key,
                    f"read another cluster's {name}",
                    (_simulation(ids, role, get, resource),),
                    expect_allowed=False,
                    source="nobody reads another cluster's parameters (judged on ssm:GetParameter)",
                )
            )
    return cases


def stack_cases(facts: StackFacts, release: Release) -> list[Case]:
    """Every case of the stack, simulation IDs unique within it."""
    ids = _Ids(facts.stack or facts.cluster_name)
    return [
        *ccm_cases(facts, release, ids),
        *least_privilege_cases(facts, ids),
        *worker_cases(facts, release, ids),
        *ssm_access_cases(facts, ids),
    ]
