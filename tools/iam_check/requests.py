"""Concrete IAM requests: ARNs, the request's tags, the resource's tags and the condition keys AWS
sets, from a call-table row (or a hand-made counter-example) and the stack's facts. Pure.

Identifiers of things the CCM creates at run time are fixed fakes, the same in every stack: a
Service `default/web` with UID 6f0c5e8a-3b1d-4c2e-9a7f-1d2e3f4a5b6c, so its load balancer is named
`a6f0c5e8a3b1d4c2e9a7f1d2e3f4a5b6` (cloudprovider.DefaultLoadBalancerName: "a" + the UID without
dashes, 32 characters), its security group `k8s-elb-<lb>` and its target group
`k8s-default-web-<hash>` (buildTargetGroupName). The cluster's own VPC and node security groups
are the render's.

Condition keys set on each request (Service Authorization Reference; the simulator drops a key
that does not apply to the action and resource type, and reports it):
- tags in the request: `aws:RequestTag/<k>` and `aws:TagKeys`;
- the resource's existing tags: `aws:ResourceTag/<k>` and `ec2:ResourceTag/<k>` /
  `elasticloadbalancing:ResourceTag/<k>`;
- tags on create: `ec2:CreateAction` / `elasticloadbalancing:CreateAction`;
- a security group: `ec2:Vpc` (its VPC's ARN) and `ec2:SecurityGroupID`; the VPC: `ec2:VpcID`;
- every EC2 action: `ec2:Region`; every request: `aws:PrincipalArn` (the role, as AWS sets it for a
  role session), `aws:PrincipalAccount`, `aws:RequestedRegion`, `aws:SecureTransport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tools.iam_check.ccm_calls import Tags, Target
from tools.iam_check.model import ContextValue, Request
from tools.iam_check.stack_facts import RoleFacts, SecurityGroupFacts, StackFacts

SERVICE_NAME_TAG = "kubernetes.io/service-name"
SERVICE = "default/web"
LOAD_BALANCER_NAME = "a6f0c5e8a3b1d4c2e9a7f1d2e3f4a5b6"
ELB_SECURITY_GROUP_ID = "sg-0e1b2c3d4e5f60718"
NLB_ID = "50dc6c495c0c9188"
TARGET_GROUP = "targetgroup/k8s-default-web-1f2e3d4c5b/73e2d6bc24d8a067"
LISTENER_ID = "2a7a8e1c5d3b4f60"
OWNED = "owned"
OTHER_VPC_ID = "vpc-0fedcba9876543210"
ELB_SERVICE = "elasticloadbalancing.amazonaws.com"
DATA_GAP_ELB_ADD_TAGS = (
    "iam-data merges the classic and v2 Elastic Load Balancing pages: elasticloadbalancing:AddTags has only the "
    "classic `loadbalancer` type there, while the Service Authorization Reference (Elastic Load Balancing V2) "
    "authorizes AddTags on targetgroup and listener/net"
)

KMS_CONTEXT_GAP = (
    "AWS sets kms:EncryptionContext:<key> for every key of the encryption context; iam-simulate 0.1.173 matches "
    "variable condition keys only at a '/', so it drops kms:EncryptionContext:PARAMETER_ARN"
)
PARAMETER_ARN_KEY = "kms:EncryptionContext:PARAMETER_ARN"


@dataclass(frozen=True)
class Resource:
    """What a request is authorized on."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags the resource already carries (none for a resource being created)."""
    vpc_arn: str | None = None
    """The VPC of a security group (ec2:Vpc)."""
    vpc_id: str | None = None
    """For the VPC itself (ec2:VpcID)."""
    data_gap: str | None = None
    description: str = ""


def tag_set(tags: Tags, facts: StackFacts) -> dict[str, str]:
    """The tags a CCM request carries (no additional-resource-tags annotation)."""
    cluster = {facts.cluster_tag_key: OWNED}
    if tags is Tags.LB:
        return {SERVICE_NAME_TAG: SERVICE, **cluster}
    if tags in (Tags.SG, Tags.REPAIR):
        return cluster
    return {}


# The ARNs AWS authorizes the CCM's calls on (Service Authorization Reference, resource types of
# Amazon EC2 and Elastic Load Balancing V2), shared by the call tables here and by the e2e tier's
# enforcing AWS proxy (e2e/aws_authz.py), which names the resources of real requests with them.


def elb_arn(facts: StackFacts, resource: str) -> str:
    return facts.arn("elasticloadbalancing", resource)


def ec2_arn(facts: StackFacts, resource_type: str, resource_id: str) -> str:
    """`security-group`, `vpc`, `instance`, `subnet`, ... and the resource's ID."""
    return facts.arn("ec2", f"{resource_type}/{resource_id}")


def classic_load_balancer_arn(facts: StackFacts, name: str) -> str:
    return elb_arn(facts, f"loadbalancer/{name}")


def network_load_balancer_arn(facts: StackFacts, name: str, lb_id: str) -> str:
    return elb_arn(facts, f"loadbalancer/net/{name}/{lb_id}")


def target_group_arn(facts: StackFacts, name: str, tg_id: str) -> str:
    return elb_arn(facts, f"targetgroup/{name}/{tg_id}")


def listener_arn(facts: StackFacts, lb_name: str, lb_id: str, listener_id: str) -> str:
    return elb_arn(facts, f"listener/net/{lb_name}/{lb_id}/{listener_id}")


def elb_service_linked_role_arn(facts: StackFacts) -> str:
    return facts.arn("iam", f"role/aws-service-role/{ELB_SERVICE}/AWSServiceRoleForElasticLoadBalancing", region=False)


def elb_data_gap(arn: str) -> str | None:
    """DATA_GAP_ELB_ADD_TAGS for a target group or listener (see `data_gap_for`), else None."""
    resource = arn.split(":", 5)[-1]
    return DATA_GAP_ELB_ADD_TAGS if resource.startswith(("targetgroup/", "listener/")) else None


def data_gap_for(action: str, resource: Resource) -> str | None:
    """The resource's declared data gap, for the one action it concerns (elasticloadbalancing:AddTags)."""
    return resource.data_gap if action == "elasticloadbalancing:AddTags" else None


def security_group(
    facts: StackFacts, group_id: str, tags: Mapping[str, str], vpc_id: str, description: str
) -> Resource:
    return Resource(
        ec2_arn(facts, "security-group", group_id),
        dict(tags),
        vpc_arn=ec2_arn(facts, "vpc", vpc_id),
        description=description,
    )


def elb_resource(facts: StackFacts, arn: str, tags: Mapping[str, str], description: str = "") -> Resource:
    """A load balancer, target group or listener with its existing tags (and the AddTags data gap)."""
    return Resource(arn, dict(tags), data_gap=elb_data_gap(arn), description=description)


def resolve(target: Target, facts: StackFacts, node_group: SecurityGroupFacts | None = None) -> Resource:
    """The ARN and existing tags of a call-table target in this stack."""
    lb_tags = tag_set(Tags.LB, facts)
    tg_arn = elb_arn(facts, TARGET_GROUP)
    nlb = network_load_balancer_arn(facts, LOAD_BALANCER_NAME, NLB_ID)
    listener = listener_arn(facts, LOAD_BALANCER_NAME, NLB_ID, LISTENER_ID)
    clb = classic_load_balancer_arn(facts, LOAD_BALANCER_NAME)
    elb_sg = f"security group k8s-elb-{LOAD_BALANCER_NAME}"
    resources: dict[Target, Resource] = {
        Target.ANY: Resource("*"),
        Target.VPC: Resource(facts.vpc_arn, dict(facts.vpc_tags), vpc_id=facts.vpc_id, description="the cluster VPC"),
        Target.ELB_SG_NEW: security_group(facts, ELB_SECURITY_GROUP_ID, {}, facts.vpc_id, f"new {elb_sg}"),
        Target.ELB_SG_UNTAGGED: security_group(facts, ELB_SECURITY_GROUP_ID, {}, facts.vpc_id, f"untagged {elb_sg}"),
        Target.ELB_SG: security_group(
            facts, ELB_SECURITY_GROUP_ID, tag_set(Tags.SG, facts), facts.vpc_id, f"cluster-owned {elb_sg}"
        ),
        Target.CLB_NEW: elb_resource(facts, clb, {}, "new classic ELB"),
        Target.CLB: elb_resource(facts, clb, lb_tags, "classic ELB"),
        Target.NLB_NEW: elb_resource(facts, nlb, {}, "new NLB"),
        Target.NLB: elb_resource(facts, nlb, lb_tags, "NLB"),
        Target.TG_NEW: elb_resource(facts, tg_arn, {}, "new target group"),
        Target.TG_UNTAGGED: elb_resource(facts, tg_arn, {}, "untagged new target group"),
        Target.TG: elb_resource(facts, tg_arn, lb_tags, "target group"),
        Target.LISTENER_NEW: elb_resource(facts, listener, {}, "new NLB listener"),
        Target.LISTENER_UNTAGGED: elb_resource(facts, listener, {}, "untagged NLB listener"),
        Target.LISTENER: elb_resource(facts, listener, lb_tags, "NLB listener"),
        Target.ELB_SERVICE_LINKED_ROLE: Resource(
            elb_service_linked_role_arn(facts), description="the ELB service-linked role"
        ),
    }
    if target is Target.NODE_SG:
        if node_group is None:
            raise ValueError("a node security group target needs the group")
        return security_group(
            facts, node_group.id, node_group.tags, facts.vpc_id, f"node group {node_group.logical_name}"
        )
    return resources[target]


def _service(action: str) -> str:
    return action.split(":", 1)[0]


def request_context(
    facts: StackFacts,
    role: RoleFacts,
    action: str,
    resource: Resource,
    *,
    request_tags: Mapping[str, str] | None = None,
    create_action: str | None = None,
    extra: Mapping[str, ContextValue] | None = None,
) -> dict[str, ContextValue]:
    """The condition keys AWS sets for this request (see the module docstring)."""
    service = _service(action)
    context: dict[str, ContextValue] = {
        "aws:PrincipalArn": role.arn,
        "aws:PrincipalAccount": facts.account,
        "aws:SecureTransport": "true",
    }
    if service != "iam":
        context["aws:RequestedRegion"] = facts.region
    if service == "ec2":
        context["ec2:Region"] = facts.region
    for key, value in (request_tags or {}).items():
        context[f"aws:RequestTag/{key}"] = value
    if request_tags:
        context["aws:TagKeys"] = tuple(request_tags)
    for key, value in resource.tags.items():
        context[f"aws:ResourceTag/{key}"] = value
        if service in ("ec2", "elasticloadbalancing"):
            context[f"{service}:ResourceTag/{key}"] = value
    if resource.vpc_arn:
        context["ec2:Vpc"] = resource.vpc_arn
        context["ec2:SecurityGroupID"] = resource.arn.rsplit("/", 1)[-1]
    if resource.vpc_id:
        context["ec2:VpcID"] = resource.vpc_id
    if create_action:
        context[f"{service}:CreateAction"] = create_action
    if action == "iam:CreateServiceLinkedRole":
        context.setdefault("iam:AWSServiceName", ELB_SERVICE)
    context.update(extra or {})
    return context


def build_request(
    facts: StackFacts,
    role: RoleFacts,
    action: str,
    resource: Resource,
    *,
    request_tags: Mapping[str, str] | None = None,
    create_action: str | None = None,
    extra: Mapping[str, ContextValue] | None = None,
) -> Request:
    return Request(
        principal=role.session_arn,
        action=action,
        resource=resource.arn,
        account=facts.account,
        context=request_context(
            facts, role, action, resource, request_tags=request_tags, create_action=create_action, extra=extra
        ),
    )


def ssm_via_service(facts: StackFacts) -> str:
    return f"ssm.{facts.region}.amazonaws.com"


def decrypt_context(facts: StackFacts, parameter_arn: str) -> dict[str, ContextValue]:
    """What KMS sees when SSM decrypts a SecureString for the caller (AWS Systems Manager guide,
    'How AWS Systems Manager Parameter Store uses AWS KMS': encryption context PARAMETER_ARN)."""
    return {
        PARAMETER_ARN_KEY: parameter_arn,
        "kms:EncryptionContextKeys": ("PARAMETER_ARN",),
        "kms:ViaService": ssm_via_service(facts),
        "kms:CallerAccount": facts.account,
        "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
