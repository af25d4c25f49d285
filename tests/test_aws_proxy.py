"""The e2e tier's enforcing AWS proxy (e2e/aws_authz.py, e2e/aws_proxy.py), without the binaries.

1. The mapping of a request to what AWS authorizes (IAM action, resource ARN, condition keys), on
   request bodies the CCM v1.35.3 sent in `make e2e` (build/e2e/aws-calls-*.json) and, for the
   calls that run did not make, bodies in the AWS SDK's query encoding.
2. The program's control-plane policies allow every one of them; with fix 3 reverted, exactly the
   listener's tag-on-create is denied (the IAM simulator, as in the e2e tier).
3. The denials are AWS's: botocore parses them into a ClientError with AWS's code and status.
4. Against moto: an allowed call passes through with moto's answer; a denied one never reaches moto.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import RenderGraph

from e2e.aws_authz import (
    ApiCall,
    AwsState,
    SecurityGroupState,
    Unmapped,
    authorizations,
    aws_elbv2_arn,
    parse_call,
)
from e2e.aws_policies import (
    deployed_control_plane,
    role_for_proxy,
    with_replayed_ids,
    without_listener_tag_on_create,
)
from e2e.aws_proxy import AwsProxy
from e2e.enforcer import Enforcer
from e2e.moto_state import MotoState
from tools.iam_check.model import NamedPolicy
from tools.iam_check.runner import SimulatorSession, ensure_installed
from tools.iam_check.stack_facts import RoleFacts, StackFacts

ACCOUNT = "123456789012"
REGION = "us-east-1"
CLUSTER_TAG = "kubernetes.io/cluster/k8s-1-35"
SERVICE_TAG = "kubernetes.io/service-name"
VPC = "vpc-f17a04c89b6ff64af"
ELB_SG = "sg-fbbb7d1b218b107d0"
NODE_SG = "sg-1171669ea8a3579c3"
CLB = "a6aea55e353ee406f86b3ed74e40c667"
NLB = "a4221f25cc85a4e8c8af01cc3d334d62"
NLB_ID = "03b4e0eb886ae012"
MOTO_NLB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{NLB}/{NLB_ID}"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/k8s-default-web-723b844e4a/6f4b9099e40d94d1"
LISTENER_ID = "0c1f27ab95e3d6a4"
MOTO_LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/{NLB}/{NLB_ID}/{LISTENER_ID}"
LB_TAGS = {SERVICE_TAG: "default/web", CLUSTER_TAG: "owned"}
EC2_AUTH = f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0"
ELB_AUTH = EC2_AUTH.replace("/ec2/", "/elasticloadbalancing/")
_TAGS = (
    "Tags.member.1.Key=kubernetes.io%2Fservice-name&Tags.member.1.Value=default%2Fweb"
    "&Tags.member.2.Key=kubernetes.io%2Fcluster%2Fk8s-1-35&Tags.member.2.Value=owned"
)

# Bodies as the CCM sent them in `make e2e` (the first of each operation), then the ones it did not send there.
RECORDED: dict[str, tuple[str, str]] = {
    "DescribeSecurityGroups": (
        EC2_AUTH,
        "Action=DescribeSecurityGroups&Filter.1.Name=group-name&Filter.1.Value.1=k8s-elb-"
        f"{CLB}&Filter.2.Name=vpc-id&Filter.2.Value.1={VPC}&Version=2016-11-15",
    ),
    "CreateSecurityGroup": (
        EC2_AUTH,
        "Action=CreateSecurityGroup&GroupDescription=Security+group+for+Kubernetes+ELB+"
        f"{CLB}+%28default%2Fweb%29&GroupName=k8s-elb-{CLB}&TagSpecification.1.ResourceType=security-group"
        "&TagSpecification.1.Tag.1.Key=kubernetes.io%2Fcluster%2Fk8s-1-35&TagSpecification.1.Tag.1.Value=owned"
        f"&Version=2016-11-15&VpcId={VPC}",
    ),
    "AuthorizeSecurityGroupIngress": (
        EC2_AUTH,
        f"Action=AuthorizeSecurityGroupIngress&GroupId={ELB_SG}&IpPermissions.1.FromPort=80"
        "&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0&IpPermissions.1.ToPort=80"
        "&Version=2016-11-15",
    ),
    "classic CreateLoadBalancer": (
        ELB_AUTH,
        "Action=CreateLoadBalancer&Listeners.member.1.InstancePort=31649&Listeners.member.1.InstanceProtocol=tcp"
        f"&Listeners.member.1.LoadBalancerPort=80&Listeners.member.1.Protocol=tcp&LoadBalancerName={CLB}"
        f"&SecurityGroups.member.1={ELB_SG}&Subnets.member.1=subnet-2c49363d8a1e91392&{_TAGS}&Version=2012-06-01",
    ),
    "ConfigureHealthCheck": (
        ELB_AUTH,
        "Action=ConfigureHealthCheck&HealthCheck.HealthyThreshold=2&HealthCheck.Interval=10"
        "&HealthCheck.Target=TCP%3A31649&HealthCheck.Timeout=5&HealthCheck.UnhealthyThreshold=6"
        f"&LoadBalancerName={CLB}&Version=2012-06-01",
    ),
    "RegisterInstancesWithLoadBalancer": (
        ELB_AUTH,
        "Action=RegisterInstancesWithLoadBalancer&Instances.member.1.InstanceId=i-6176c809d436eea5b"
        f"&LoadBalancerName={CLB}&Version=2012-06-01",
    ),
    "NLB CreateLoadBalancer": (
        ELB_AUTH,
        f"Action=CreateLoadBalancer&Name={NLB}&SecurityGroups=&SubnetMappings.member.1.SubnetId="
        f"subnet-2c49363d8a1e91392&{_TAGS}&Type=network&Version=2015-12-01",
    ),
    "CreateTargetGroup": (
        ELB_AUTH,
        "Action=CreateTargetGroup&HealthCheckIntervalSeconds=30&HealthCheckPort=traffic-port&HealthCheckProtocol=TCP"
        "&HealthyThresholdCount=3&Name=k8s-default-web-723b844e4a&Port=32319&Protocol=TCP&"
        f"{_TAGS}&TargetType=instance&UnhealthyThresholdCount=3&Version=2015-12-01&VpcId={VPC}",
    ),
    "RegisterTargets": (
        ELB_AUTH,
        "Action=RegisterTargets&TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3A"
        "targetgroup%2Fk8s-default-web-723b844e4a%2F6f4b9099e40d94d1&Targets.member.1.Id=i-6176c809d436eea5b"
        "&Targets.member.1.Port=32319&Version=2015-12-01",
    ),
    "CreateListener": (
        ELB_AUTH,
        "Action=CreateListener&DefaultActions.member.1.TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1"
        "%3A123456789012%3Atargetgroup%2Fk8s-default-web-723b844e4a%2F6f4b9099e40d94d1&DefaultActions.member.1.Type="
        "forward&LoadBalancerArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3Aloadbalancer%2Fapp%2F"
        f"{NLB}%2F{NLB_ID}&Port=80&Protocol=TCP&{_TAGS}&Version=2015-12-01",
    ),
    "NLB ModifyLoadBalancerAttributes": (
        ELB_AUTH,
        "Action=ModifyLoadBalancerAttributes&Attributes.member.1.Key=access_logs.s3.enabled&Attributes.member.1.Value="
        "false&LoadBalancerArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3Aloadbalancer%2Fapp%2F"
        f"{NLB}%2F{NLB_ID}&Version=2015-12-01",
    ),
    # Not made in that run (readRepairClusterTags, updates and deletion), in the SDK's encoding.
    "CreateTags": (
        EC2_AUTH,
        f"Action=CreateTags&ResourceId.1={ELB_SG}&Tag.1.Key=kubernetes.io%2Fcluster%2Fk8s-1-35&Tag.1.Value=owned"
        "&Version=2016-11-15",
    ),
    "RevokeSecurityGroupIngress": (
        EC2_AUTH,
        f"Action=RevokeSecurityGroupIngress&GroupId={NODE_SG}&IpPermissions.1.IpProtocol=-1&Version=2016-11-15",
    ),
    "DeleteSecurityGroup": (EC2_AUTH, f"Action=DeleteSecurityGroup&GroupId={ELB_SG}&Version=2016-11-15"),
    "classic DeleteLoadBalancer": (
        ELB_AUTH,
        f"Action=DeleteLoadBalancer&LoadBalancerName={CLB}&Version=2012-06-01",
    ),
    "ModifyListener": (
        ELB_AUTH,
        "Action=ModifyListener&ListenerArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3Alistener"
        f"%2Fapp%2F{NLB}%2F{NLB_ID}%2F{LISTENER_ID}&Port=80&Protocol=TCP&Version=2015-12-01",
    ),
    "DeleteTargetGroup": (
        ELB_AUTH,
        "Action=DeleteTargetGroup&TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3A"
        "targetgroup%2Fk8s-default-web-723b844e4a%2F6f4b9099e40d94d1&Version=2015-12-01",
    ),
    "DescribeTargetHealth": (
        ELB_AUTH,
        "Action=DescribeTargetHealth&TargetGroupArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A123456789012%3A"
        "targetgroup%2Fk8s-default-web-723b844e4a%2F6f4b9099e40d94d1&Version=2015-12-01",
    ),
}


@dataclass
class FakeState(AwsState):
    """The account as the recorded run left it: the ELB group and a node group of the cluster VPC,
    the classic ELB, the NLB (network, under moto's `app` ARN), its target group and listener."""

    groups: dict[str, SecurityGroupState] = field(
        default_factory=lambda: {
            ELB_SG: SecurityGroupState({CLUSTER_TAG: "owned"}, VPC),
            NODE_SG: SecurityGroupState({CLUSTER_TAG: "owned", "Name": "k8s-1-35-worker"}, VPC),
        }
    )
    tags: dict[str, dict[str, str]] = field(
        default_factory=lambda: {VPC: {CLUSTER_TAG: "owned", "Name": "k8s-1-35-vpc"}}
    )
    classic: dict[str, dict[str, str]] = field(default_factory=lambda: {CLB: dict(LB_TAGS)})
    elbv2: dict[str, dict[str, str]] = field(
        default_factory=lambda: {MOTO_NLB_ARN: dict(LB_TAGS), TG_ARN: dict(LB_TAGS), MOTO_LISTENER_ARN: dict(LB_TAGS)}
    )
    linked_role: bool = False

    def security_group(self, group_id: str) -> SecurityGroupState | None:
        return self.groups.get(group_id)

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]:
        return self.tags.get(resource_id, {})

    def classic_load_balancer_tags(self, name: str) -> Mapping[str, str]:
        return self.classic.get(name, {})

    def elbv2_tags(self, arn: str) -> Mapping[str, str]:
        return self.elbv2.get(arn, {})

    def elbv2_load_balancer_type(self, arn: str) -> str | None:
        return "network" if arn == MOTO_NLB_ARN else None

    def service_linked_role_exists(self, service: str) -> bool:
        return self.linked_role


@pytest.fixture(scope="module")
def deployed(render_graph: RenderGraph) -> tuple[StackFacts, RoleFacts]:
    """k8s-1-35's facts and control-plane role with the recorded run's VPC for the render's."""
    graph = render_graph("k8s-1-35")
    from tools.iam_check.stack_facts import stack_facts  # noqa: PLC0415

    return deployed_control_plane(graph, {stack_facts(graph).vpc_id: VPC})


def call_of(name: str) -> ApiCall:
    header, body = RECORDED[name]
    return parse_call(header, body)


def summary(found: list[Any]) -> list[tuple[str, str]]:
    return [(a.action, a.resource.arn.split(":", 5)[-1]) for a in found]


def test_the_api_is_told_by_the_credential_scope_and_the_elb_version() -> None:
    assert call_of("CreateSecurityGroup").api == "ec2"
    assert call_of("classic CreateLoadBalancer").api == "elb"
    assert call_of("CreateListener").api == "elbv2"
    assert call_of("CreateListener").iam_action == "elasticloadbalancing:CreateListener"
    with pytest.raises(Unmapped, match="service 'sts'"):
        parse_call(EC2_AUTH.replace("/ec2/", "/sts/"), "Action=GetCallerIdentity&Version=2011-06-15")
    with pytest.raises(Unmapped, match="API version"):
        parse_call(ELB_AUTH, "Action=DescribeLoadBalancers&Version=2099-01-01")
    with pytest.raises(Unmapped, match="SigV4"):
        parse_call("", "Action=DescribeInstances&Version=2016-11-15")


def test_security_group_calls(deployed: tuple[StackFacts, RoleFacts]) -> None:
    facts, _ = deployed
    state = FakeState()
    create = authorizations(call_of("CreateSecurityGroup"), facts, state)
    assert [a.action for a in create] == ["ec2:CreateSecurityGroup", "ec2:CreateSecurityGroup", "ec2:CreateTags"]
    new_group, vpc, tags = create
    assert new_group.resource.arn.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-")
    assert new_group.resource.vpc_arn == f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{VPC}"
    assert new_group.request_tags == {CLUSTER_TAG: "owned"} and not new_group.resource.tags
    assert vpc.resource.arn.endswith(f":vpc/{VPC}") and vpc.resource.vpc_id == VPC
    assert vpc.resource.tags[CLUSTER_TAG] == "owned" and not vpc.request_tags
    assert tags.create_action == "CreateSecurityGroup" and tags.resource == new_group.resource
    for name, group in (("AuthorizeSecurityGroupIngress", ELB_SG), ("RevokeSecurityGroupIngress", NODE_SG)):
        (found,) = authorizations(call_of(name), facts, state)
        assert found.resource.arn.endswith(f":security-group/{group}")
        assert found.resource.tags[CLUSTER_TAG] == "owned" and str(found.resource.vpc_arn).endswith(VPC)
    (repair,) = authorizations(call_of("CreateTags"), facts, state)
    assert (repair.action, repair.request_tags) == ("ec2:CreateTags", {CLUSTER_TAG: "owned"})
    assert repair.create_action is None and str(repair.resource.vpc_arn).endswith(VPC)
    assert summary(authorizations(call_of("DescribeSecurityGroups"), facts, state)) == [
        ("ec2:DescribeSecurityGroups", "*")
    ]


def test_classic_load_balancer_calls(deployed: tuple[StackFacts, RoleFacts]) -> None:
    facts, _ = deployed
    create = authorizations(call_of("classic CreateLoadBalancer"), facts, FakeState())
    assert summary(create) == [
        ("elasticloadbalancing:CreateLoadBalancer", f"loadbalancer/{CLB}"),
        ("elasticloadbalancing:AddTags", f"loadbalancer/{CLB}"),
        (
            "iam:CreateServiceLinkedRole",
            "role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing",
        ),
    ]
    assert create[0].request_tags == LB_TAGS and create[1].create_action == "CreateLoadBalancer"
    # The service-linked role only with the account's first load balancer.
    again = authorizations(call_of("classic CreateLoadBalancer"), facts, FakeState(linked_role=True))
    assert [a.action for a in again] == ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:AddTags"]
    for name in ("ConfigureHealthCheck", "RegisterInstancesWithLoadBalancer", "classic DeleteLoadBalancer"):
        (found,) = authorizations(call_of(name), facts, FakeState())
        assert found.resource.arn.endswith(f":loadbalancer/{CLB}") and found.resource.tags == LB_TAGS


def test_network_load_balancer_calls(deployed: tuple[StackFacts, RoleFacts]) -> None:
    facts, _ = deployed
    state = FakeState(linked_role=True)
    nlb = authorizations(call_of("NLB CreateLoadBalancer"), facts, state)
    assert [(a.action, a.create_action) for a in nlb] == [
        ("elasticloadbalancing:CreateLoadBalancer", None),
        ("elasticloadbalancing:AddTags", "CreateLoadBalancer"),
    ]
    assert nlb[0].resource.arn.split(":")[-1].startswith(f"loadbalancer/net/{NLB}/")
    tg = authorizations(call_of("CreateTargetGroup"), facts, state)
    assert [(a.action, a.create_action, a.resource.data_gap is not None) for a in tg] == [
        ("elasticloadbalancing:CreateTargetGroup", None, True),
        ("elasticloadbalancing:AddTags", "CreateTargetGroup", True),
    ]
    assert tg[0].resource.arn.split(":")[-1].startswith("targetgroup/k8s-default-web-723b844e4a/")
    listener = authorizations(call_of("CreateListener"), facts, state)
    assert summary(listener)[0] == ("elasticloadbalancing:CreateListener", f"loadbalancer/net/{NLB}/{NLB_ID}")
    assert listener[0].resource.tags == LB_TAGS and listener[0].request_tags == LB_TAGS
    assert listener[1].action == "elasticloadbalancing:AddTags" and listener[1].create_action == "CreateListener"
    assert listener[1].resource.arn.split(":")[-1].startswith(f"listener/net/{NLB}/{NLB_ID}/")
    (modify,) = authorizations(call_of("ModifyListener"), facts, state)
    assert modify.resource.arn.endswith(f":listener/net/{NLB}/{NLB_ID}/{LISTENER_ID}")
    assert modify.resource.tags == LB_TAGS
    for name, arn in (
        ("RegisterTargets", TG_ARN),
        ("DeleteTargetGroup", TG_ARN),
        ("NLB ModifyLoadBalancerAttributes", MOTO_NLB_ARN.replace("/app/", "/net/")),
    ):
        (found,) = authorizations(call_of(name), facts, state)
        assert (found.resource.arn, found.resource.tags) == (arn, LB_TAGS), name
    assert summary(authorizations(call_of("DescribeTargetHealth"), facts, state)) == [
        ("elasticloadbalancing:DescribeTargetHealth", "*")
    ]


def test_moto_arns_of_network_load_balancers_become_aws_arns() -> None:
    state = FakeState()
    assert aws_elbv2_arn(state, MOTO_NLB_ARN) == MOTO_NLB_ARN.replace("/app/", "/net/")
    assert aws_elbv2_arn(state, MOTO_LISTENER_ARN) == MOTO_LISTENER_ARN.replace("/app/", "/net/")
    application = MOTO_NLB_ARN.replace(NLB_ID, "ffffffffffffffff")
    assert aws_elbv2_arn(state, application) == application  # not a network load balancer: unchanged
    assert aws_elbv2_arn(state, TG_ARN) == TG_ARN


def test_requests_without_a_mapping_are_refused_not_guessed(deployed: tuple[StackFacts, RoleFacts]) -> None:
    facts, _ = deployed
    unmapped = [
        (EC2_AUTH, "Action=RunInstances&ImageId=ami-1&Version=2016-11-15"),
        (EC2_AUTH, "Action=AuthorizeSecurityGroupIngress&GroupName=default&Version=2016-11-15"),
        (
            EC2_AUTH,
            f"Action=CreateSecurityGroup&GroupName=x&VpcId={VPC}&TagSpecification.1.ResourceType=vpc"
            "&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=b&Version=2016-11-15",
        ),
        (ELB_AUTH, "Action=CreateListener&LoadBalancerArn=" + TG_ARN + "&Version=2015-12-01"),
        (ELB_AUTH, "Action=SetWebAcl&Version=2015-12-01"),
    ]
    for header, body in unmapped:
        with pytest.raises(Unmapped):
            authorizations(parse_call(header, body), facts, FakeState())


def test_policy_ids_become_the_replayed_ones_and_an_unknown_id_is_an_error() -> None:
    policy = NamedPolicy("p", {"Statement": [{"Resource": "arn:aws:ec2:us-east-1:1:vpc/vpc-0e2a5980d99ae7abb"}]})
    (replaced,) = with_replayed_ids([policy], {"vpc-0e2a5980d99ae7abb": VPC})
    assert replaced.document["Statement"][0]["Resource"].endswith(f"vpc/{VPC}")
    with pytest.raises(LookupError, match="vpc-0e2a5980d99ae7abb"):
        with_replayed_ids([policy], {})


def test_fix_3_reverted_drops_only_create_listener(deployed: tuple[StackFacts, RoleFacts]) -> None:
    _, role = deployed
    reverted = without_listener_tag_on_create(role.policies)
    before = [s for p in role.policies for s in p.document["Statement"]]
    after = [s for p in reverted for s in p.document["Statement"]]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    (pair,) = changed
    key = "elasticloadbalancing:CreateAction"
    assert sorted(pair[0]["Condition"]["StringEquals"][key]) == [
        "CreateListener",
        "CreateLoadBalancer",
        "CreateTargetGroup",
    ]
    assert sorted(pair[1]["Condition"]["StringEquals"][key]) == ["CreateLoadBalancer", "CreateTargetGroup"]
    with pytest.raises(LookupError):
        without_listener_tag_on_create(reverted)


# -- with the IAM simulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorSession]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    ensure_installed()
    with SimulatorSession() as session:
        yield session


def test_the_program_policy_allows_every_call_and_fix_3_reverted_denies_the_listener_tags(
    deployed: tuple[StackFacts, RoleFacts], simulator: SimulatorSession
) -> None:
    facts, role = deployed
    enforcer = Enforcer(facts, role_for_proxy(role, role.policies, "i-0123456789abcdef0"), FakeState(), simulator)
    for name in RECORDED:
        verdict = enforcer.judge(call_of(name))
        assert verdict.decision == "allowed", (name, [r.explanation for _, _, r in verdict.checks])
    reverted = Enforcer(
        facts,
        role_for_proxy(role, without_listener_tag_on_create(role.policies), "i-0123456789abcdef0"),
        FakeState(),
        simulator,
    )
    denied = [name for name in RECORDED if not reverted.judge(call_of(name)).allowed]
    assert denied == ["CreateListener"]
    action, resource, result = reverted.judge(call_of("CreateListener")).first_refusal()
    assert action == "elasticloadbalancing:AddTags" and f":listener/net/{NLB}/{NLB_ID}/" in resource
    assert result is not None and result.decision is not None and result.decision.value == "ImplicitlyDenied"


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_denials_are_aws_errors_that_botocore_parses(
    deployed: tuple[StackFacts, RoleFacts], simulator: SimulatorSession
) -> None:
    """A role with no policy: every request is denied, answered as AWS does, and moto (an address
    nothing listens on) is never asked."""
    facts, role = deployed
    nobody = role_for_proxy(role, (), "i-0123456789abcdef0")
    proxy = AwsProxy("http://127.0.0.1:9", Enforcer(facts, nobody, FakeState(), simulator)).start()
    try:
        with pytest.raises(ClientError) as ec2_error:
            _client("ec2", proxy.url).create_security_group(GroupName="g", Description="d", VpcId=VPC)
        with pytest.raises(ClientError) as elb_error:
            _client("elb", proxy.url).configure_health_check(
                LoadBalancerName=CLB,
                HealthCheck={
                    "Target": "TCP:1",
                    "Interval": 10,
                    "Timeout": 5,
                    "UnhealthyThreshold": 2,
                    "HealthyThreshold": 2,
                },
            )
        with pytest.raises(ClientError) as elbv2_error:
            _client("elbv2", proxy.url).delete_target_group(TargetGroupArn=TG_ARN)
        with pytest.raises(ClientError) as unmodelled:
            _client("ec2", proxy.url).delete_vpc(VpcId=VPC)
    finally:
        proxy.stop()
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.name}/i-0123456789abcdef0"
    for error, code, action in (
        (ec2_error.value, "UnauthorizedOperation", "ec2:CreateSecurityGroup"),
        (elb_error.value, "AccessDenied", "elasticloadbalancing:ConfigureHealthCheck"),
        (elbv2_error.value, "AccessDenied", "elasticloadbalancing:DeleteTargetGroup"),
        (unmodelled.value, "UnauthorizedOperation", "ec2:DeleteVpc"),
    ):
        assert error.response["Error"]["Code"] == code
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert error.response["ResponseMetadata"]["RequestId"]
        assert f"User: {principal} is not authorized to perform: {action} on resource: " in str(error)
    assert "You are not authorized to perform this operation." in str(ec2_error.value)
    assert ":targetgroup/k8s-default-web-723b844e4a/" in str(elbv2_error.value)
    assert [call["decision"] for call in proxy.calls] == ["denied", "denied", "denied", "error"]
    assert all(call["status"] == 403 for call in proxy.calls)
    assert "not modelled" in proxy.calls[-1]["error"]


# -- against moto -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    pytest.importorskip("moto", reason="moto comes with requirements-dev.txt")
    from tools.validate.motoserver import moto_server  # noqa: PLC0415 - after the skip

    with moto_server() as url:
        yield url


def test_allowed_calls_pass_through_and_denied_ones_never_reach_moto(
    deployed: tuple[StackFacts, RoleFacts], simulator: SimulatorSession, moto_url: str
) -> None:
    facts, role = deployed
    moto = _client("ec2", moto_url)
    vpc = moto.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    # Describe security groups, create them in this VPC, but no tags on create.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeSecurityGroups", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "ec2:CreateSecurityGroup",
                "Resource": [
                    f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*",
                    f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc}",
                ],
            },
        ],
    }
    limited = role_for_proxy(role, (NamedPolicy("test", policy),), "i-0123456789abcdef0")
    state = MotoState(moto_url, REGION)
    proxy = AwsProxy(moto_url, Enforcer(facts, limited, state, simulator), state).start()
    try:
        through = _client("ec2", proxy.url)
        created = through.create_security_group(GroupName="allowed", Description="d", VpcId=vpc)["GroupId"]
        assert through.describe_security_groups(GroupIds=[created])["SecurityGroups"][0]["GroupName"] == "allowed"
        with pytest.raises(ClientError) as denied:
            through.create_security_group(
                GroupName="tagged",
                Description="d",
                VpcId=vpc,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": [{"Key": CLUSTER_TAG, "Value": "owned"}]}
                ],
            )
    finally:
        proxy.stop()
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "ec2:CreateTags" in str(denied.value)
    in_moto = {
        g["GroupName"]
        for g in moto.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    }
    assert "allowed" in in_moto and "tagged" not in in_moto
    assert [(c["operation"], c["decision"], c["status"]) for c in proxy.calls] == [
        ("CreateSecurityGroup", "allowed", 200),
        ("DescribeSecurityGroups", "allowed", 200),
        ("CreateSecurityGroup", "denied", 403),
    ]
    refused = proxy.calls[-1]["authorizations"]
    assert [(a["action"], a["decision"]) for a in refused] == [
        ("ec2:CreateSecurityGroup", "Allowed"),
        ("ec2:CreateSecurityGroup", "Allowed"),
        ("ec2:CreateTags", "ImplicitlyDenied"),
    ]
    assert refused[2]["context"]["ec2:CreateAction"] == "CreateSecurityGroup"
