"""The request builder (tools/iam_check/requests.py), the facts read from a render
(stack_facts.py), the AWS-managed documents (managed.py) and the case list (cases.py). No simulator."""

from __future__ import annotations

import json

import pytest
from conftest import STACKS, RenderGraph

from components.pki_layout import CONTROL_PLANE_FILES
from components.versions import release_for
from tools.iam_check.cases import stack_cases
from tools.iam_check.ccm_calls import Tags, Target
from tools.iam_check.documents import KEY_POLICY, TRUST_POLICY, graph_resources, rendered_policies
from tools.iam_check.judge import release_of_stack
from tools.iam_check.managed import UnknownManagedPolicy, managed_policy_document
from tools.iam_check.model import Category, NamedPolicy
from tools.iam_check.requests import (
    ELB_SECURITY_GROUP_ID,
    LOAD_BALANCER_NAME,
    build_request,
    decrypt_context,
    resolve,
    tag_set,
)
from tools.iam_check.stack_facts import (
    ParameterFacts,
    RoleFacts,
    SecurityGroupFacts,
    StackFacts,
    StackFactsError,
    other_cluster_prefix,
    stack_facts,
)

ACCOUNT = "123456789012"
VPC = "vpc-0a1b2c3d4e5f60718"
CLUSTER_TAG = "kubernetes.io/cluster/demo"


def facts(region: str = "eu-west-1") -> StackFacts:
    role = RoleFacts(
        "control-plane",
        "demo-control-plane",
        "demo-control-plane-1234567",
        f"arn:aws:iam::{ACCOUNT}:role/demo-control-plane-1234567",
        (NamedPolicy("p", {"Version": "2012-10-17", "Statement": []}),),
    )
    return StackFacts(
        stack="demo",
        cluster_name="demo",
        partition="aws",
        region=region,
        account=ACCOUNT,
        vpc_id=VPC,
        ssm_prefix="/k8s-dualstack-aws/demo",
        roles={"control-plane": role},
        parameters=(),
        keys=(),
        node_security_groups=(
            SecurityGroupFacts(
                "demo-worker",
                "sg-0aaa",
                f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/sg-0aaa",
                {CLUSTER_TAG: "owned"},
            ),
        ),
        vpc_tags={CLUSTER_TAG: "owned"},
    )


def test_tag_sets_are_the_ccm_tags_without_additional_resource_tags() -> None:
    f = facts()
    assert tag_set(Tags.LB, f) == {"kubernetes.io/service-name": "default/web", CLUSTER_TAG: "owned"}
    assert tag_set(Tags.SG, f) == tag_set(Tags.REPAIR, f) == {CLUSTER_TAG: "owned"}
    assert tag_set(Tags.NONE, f) == {}


def test_targets_resolve_to_arns_of_the_stack_with_their_existing_tags() -> None:
    f = facts()
    elb_sg = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/{ELB_SECURITY_GROUP_ID}"
    assert resolve(Target.ELB_SG_NEW, f).arn == elb_sg and not resolve(Target.ELB_SG_NEW, f).tags
    assert resolve(Target.ELB_SG, f).tags == {CLUSTER_TAG: "owned"}
    assert resolve(Target.ELB_SG, f).vpc_arn == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc/{VPC}"
    assert resolve(Target.VPC, f).arn == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc/{VPC}"
    assert resolve(Target.CLB, f).arn.endswith(f":loadbalancer/{LOAD_BALANCER_NAME}")
    assert resolve(Target.NLB, f).arn.endswith(f":loadbalancer/net/{LOAD_BALANCER_NAME}/50dc6c495c0c9188")
    assert resolve(Target.LISTENER, f).arn.split(":")[-1].startswith(f"listener/net/{LOAD_BALANCER_NAME}/")
    assert resolve(Target.TG, f).arn.split(":")[-1].startswith("targetgroup/k8s-default-web-")
    assert not resolve(Target.LISTENER_UNTAGGED, f).tags and resolve(Target.LISTENER, f).tags
    assert resolve(Target.ELB_SERVICE_LINKED_ROLE, f).arn == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    )
    node = resolve(Target.NODE_SG, f, f.node_security_groups[0])
    assert node.arn.endswith(":security-group/sg-0aaa") and node.tags == {CLUSTER_TAG: "owned"}
    with pytest.raises(ValueError, match="needs the group"):
        resolve(Target.NODE_SG, f)
    assert len(LOAD_BALANCER_NAME) == 32 and LOAD_BALANCER_NAME.startswith("a")  # DefaultLoadBalancerName


def test_a_tag_on_create_request_carries_request_tags_and_create_action() -> None:
    f = facts()
    role = f.roles["control-plane"]
    new_group = resolve(Target.ELB_SG_NEW, f)
    tags = {CLUSTER_TAG: "owned"}
    request = build_request(
        f, role, "ec2:CreateTags", new_group, request_tags=tags, create_action="CreateSecurityGroup"
    )
    assert request.principal == f"arn:aws:sts::{ACCOUNT}:assumed-role/demo-control-plane-1234567/i-0123456789abcdef0"
    assert request.context == {
        "aws:PrincipalArn": role.arn,
        "aws:PrincipalAccount": ACCOUNT,
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": "eu-west-1",
        "ec2:Region": "eu-west-1",
        f"aws:RequestTag/{CLUSTER_TAG}": "owned",
        "aws:TagKeys": (CLUSTER_TAG,),
        "ec2:Vpc": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc/{VPC}",
        "ec2:SecurityGroupID": ELB_SECURITY_GROUP_ID,
        "ec2:CreateAction": "CreateSecurityGroup",
    }


def test_a_request_on_an_existing_resource_carries_its_tags_in_both_spellings() -> None:
    f = facts()
    request = build_request(
        f, f.roles["control-plane"], "elasticloadbalancing:DeleteLoadBalancer", resolve(Target.NLB, f)
    )
    assert request.context[f"aws:ResourceTag/{CLUSTER_TAG}"] == "owned"
    assert request.context[f"elasticloadbalancing:ResourceTag/{CLUSTER_TAG}"] == "owned"
    assert "aws:TagKeys" not in request.context and "ec2:Region" not in request.context
    vpc = build_request(f, f.roles["control-plane"], "ec2:CreateSecurityGroup", resolve(Target.VPC, f))
    assert vpc.context["ec2:VpcID"] == VPC and vpc.context[f"ec2:ResourceTag/{CLUSTER_TAG}"] == "owned"


def test_iam_requests_name_the_service_and_no_region() -> None:
    f = facts()
    slr = build_request(
        f, f.roles["control-plane"], "iam:CreateServiceLinkedRole", resolve(Target.ELB_SERVICE_LINKED_ROLE, f)
    )
    assert slr.context["iam:AWSServiceName"] == "elasticloadbalancing.amazonaws.com"
    assert "aws:RequestedRegion" not in slr.context


def test_decrypt_via_ssm_sets_the_parameter_arn_as_encryption_context() -> None:
    arn = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/k8s-dualstack-aws/demo/pki/ca.key"
    assert decrypt_context(facts(), arn) == {
        "kms:EncryptionContext:PARAMETER_ARN": arn,
        "kms:EncryptionContextKeys": ("PARAMETER_ARN",),
        "kms:ViaService": "ssm.eu-west-1.amazonaws.com",
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }


def test_another_cluster_prefix_is_a_sibling_of_ours() -> None:
    assert other_cluster_prefix(facts()) == "/k8s-dualstack-aws/demo-other"


def test_aws_managed_documents_come_from_moto_and_unknown_ones_are_errors() -> None:
    core = managed_policy_document("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    actions = {a for s in core["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"ssm:GetParameter", "ssm:GetParameters"} <= actions
    assert managed_policy_document("arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM")["Statement"]
    with pytest.raises(UnknownManagedPolicy):
        managed_policy_document("arn:aws:iam::aws:policy/NoSuchPolicyAnywhere")
    with pytest.raises(UnknownManagedPolicy):
        managed_policy_document("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore/extra")
    with pytest.raises(UnknownManagedPolicy):
        managed_policy_document(f"arn:aws:iam::{ACCOUNT}:policy/mine")


EVERY_STACK = pytest.mark.parametrize("stack", STACKS)


@EVERY_STACK
def test_the_render_gives_both_roles_their_policies_the_parameters_and_the_vpc(
    render_graph: RenderGraph, stack: str
) -> None:
    graph = render_graph(stack)
    f = stack_facts(graph)
    assert f.account == ACCOUNT and f.partition == "aws" and f.region == "us-east-1"
    assert set(f.roles) == {"control-plane", "worker"}
    for role in f.roles.values():
        assert role.arn == f"arn:aws:iam::{ACCOUNT}:role/{role.name}"
        assert role.policies, role.key
    assert any(p.name.endswith("cloud-controller-manager") for p in f.roles["control-plane"].policies)
    assert not any(p.name.endswith("cloud-controller-manager") for p in f.roles["worker"].policies)
    names = {p.name for p in f.parameters}
    assert {node_file.parameter_name(f.ssm_prefix) for node_file in CONTROL_PLANE_FILES} <= names
    assert f"{f.ssm_prefix}/bootstrap/token" in names
    vpc = graph.by_type("aws:ec2/vpc:Vpc")[0]
    assert f.vpc_id == vpc.id and f.cluster_tag_key in f.vpc_tags
    assert f.node_security_groups and all(g.tags.get(f.cluster_tag_key) == "owned" for g in f.node_security_groups)
    secure = [p for p in f.parameters if p.secure]
    assert secure and all(p.name.endswith((".key", "/token")) for p in secure)


@EVERY_STACK
def test_a_key_policy_in_the_render_is_used_for_its_secure_strings(render_graph: RenderGraph, stack: str) -> None:
    f = stack_facts(render_graph(stack))
    keyed = [p for p in f.parameters if p.key is not None]
    if not f.keys:
        pytest.skip("no KMS key in this render: SecureStrings use the account's aws/ssm key")
    assert keyed == [p for p in f.parameters if p.secure]
    assert all(isinstance(p.key and p.key.policy, dict) for p in keyed)


def test_a_preview_render_is_refused(render_graph: RenderGraph) -> None:
    with pytest.raises(StackFactsError, match="up-mode"):
        stack_facts(render_graph("dev", preview=True))


@EVERY_STACK
def test_the_cases_cover_the_matrix_with_unique_simulations(render_graph: RenderGraph, stack: str) -> None:
    f = stack_facts(render_graph(stack))
    cases = stack_cases(f, release_of_stack(stack))
    ids = [s.id for c in cases for s in c.simulations]
    assert len(ids) == len(set(ids))
    by_category = {category: [c for c in cases if c.category is category] for category in Category}
    assert all(by_category.values())
    assert all(c.expect_allowed and c.role == "control-plane" for c in by_category[Category.CCM])
    assert not any(c.expect_allowed for c in by_category[Category.LEAST_PRIVILEGE])
    ssm = by_category[Category.SSM_ACCESS]
    # every role x every parameter, plus two of a neighbouring cluster per role
    assert len(ssm) == len(f.roles) * (len(f.parameters) + 2)
    readable = {(c.role, c.title.removeprefix("read ")) for c in ssm if c.expect_allowed}
    token = f"{f.ssm_prefix}/bootstrap/token"
    assert ("worker", token) in readable and ("control-plane", token) in readable
    assert {name for role, name in readable if role == "worker"} == {token}
    for case in by_category[Category.CCM]:
        assert case.source.startswith("cloud-provider-aws v1.") and "pkg/providers/v1/" in case.source


def _parameter(f: StackFacts, name: str) -> ParameterFacts:
    return next(p for p in f.parameters if p.name == name)


def test_decrypt_is_simulated_only_under_a_customer_key(render_graph: RenderGraph) -> None:
    f = stack_facts(render_graph("k8s-1-35"))
    cases = stack_cases(f, release_for("1.35"))
    ca_key = next(
        c for c in cases if c.category is Category.SSM_ACCESS and c.title.endswith("/pki/ca.key") and c.role == "worker"
    )
    ca_crt = next(
        c for c in cases if c.category is Category.SSM_ACCESS and c.title.endswith("/pki/ca.crt") and c.role == "worker"
    )
    assert [s.request.action for s in ca_crt.simulations] == ["ssm:GetParameter"]
    parameter = _parameter(f, f"{f.ssm_prefix}/pki/ca.key")
    if parameter.key is None:
        assert [s.request.action for s in ca_key.simulations] == ["ssm:GetParameter"]
    else:
        assert [s.request.action for s in ca_key.simulations] == ["ssm:GetParameter", "kms:Decrypt"]
        decrypt = ca_key.simulations[1]
        assert decrypt.request.resource == parameter.key.arn
        assert decrypt.resource_policy == parameter.key.policy
        assert decrypt.keep_context_keys == ("kms:EncryptionContext:PARAMETER_ARN",)


@EVERY_STACK
def test_every_rendered_policy_document_is_found_with_its_kind(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    policies = rendered_policies(graph_resources(graph))
    kinds = {p.kind for p in policies}
    assert {"cloud-controller-manager", "node", TRUST_POLICY} <= kinds
    assert sum(p.kind == TRUST_POLICY for p in policies) == len(graph.by_type("aws:iam/role:Role"))
    inline = graph.by_type("aws:iam/rolePolicy:RolePolicy")
    assert len([p for p in policies if p.kind not in (TRUST_POLICY, KEY_POLICY)]) >= len(inline)
    assert all(isinstance(json.loads(p.text), dict) for p in policies)
