"""What the IAM tier needs from a stack's offline render (a captured `Graph`, up mode).

Roles and their policies (inline `RolePolicy`, attached managed policies, inline/managed on the
Role itself), the KMS keys and their key policies, the SSM parameters (name, type, key), the
cluster's VPC and node security groups with their tags, the instance types. Identifiers are the
mock engine's (tools/offline/mocks.py): account 123456789012, the stack's region, the role ARNs,
the VPC and security group IDs the program passes on, so the policies rendered with those values
and the requests built here name the same resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.iam_check.managed import managed_policy_document
from tools.iam_check.model import NamedPolicy, PolicyDocument
from tools.offline.capture import Graph, ResourceRecord, is_unknown, unwrap_secrets
from tools.offline.engine import DEFAULT_REGION
from tools.offline.mocks import ACCOUNT_ID
from tools.offline.stackfiles import stack_config

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
TOKEN_SUFFIX = "/bootstrap/token"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
KMS_ALIAS = "aws:kms/alias:Alias"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"
VPC = "aws:ec2/vpc:Vpc"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE_SESSION = "i-0123456789abcdef0"
"""The instance ID in the role session ARN of every simulated node request."""


class StackFactsError(ValueError):
    """The render lacks something the IAM tier needs, or names a policy it cannot resolve."""


@dataclass(frozen=True)
class RoleFacts:
    key: str
    """`control-plane` or `worker` (the suffix of the role's logical name)."""
    logical_name: str
    name: str
    """The role's name in AWS (the mock's physical name)."""
    arn: str
    policies: tuple[NamedPolicy, ...]
    """Every identity policy in force: inline ones by name, managed ones by ARN."""
    session_name: str = INSTANCE_SESSION
    """The role session's name: EC2 names an instance profile's session after the instance ID."""

    @property
    def session_arn(self) -> str:
        """The caller as EC2 instance-profile credentials present it."""
        account = self.arn.split(":")[4]
        return f"arn:{self.arn.split(':')[1]}:sts::{account}:assumed-role/{self.name}/{self.session_name}"


@dataclass(frozen=True)
class KeyFacts:
    logical_name: str
    arn: str
    policy: PolicyDocument | None
    """The key policy (Key `policy` input or a KeyPolicy resource); None when the render sets none."""


@dataclass(frozen=True)
class ParameterFacts:
    logical_name: str
    name: str
    arn: str
    secure: bool
    key: KeyFacts | None
    """The customer-managed key of a SecureString; None: the account's default aws/ssm key."""


@dataclass(frozen=True)
class SecurityGroupFacts:
    logical_name: str
    id: str
    arn: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class StackFacts:
    stack: str
    cluster_name: str
    partition: str
    region: str
    account: str
    vpc_id: str
    ssm_prefix: str
    roles: Mapping[str, RoleFacts]
    parameters: tuple[ParameterFacts, ...]
    keys: tuple[KeyFacts, ...]
    node_security_groups: tuple[SecurityGroupFacts, ...]
    vpc_tags: Mapping[str, str] = field(default_factory=dict)
    instance_types: tuple[str, ...] = ()

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"

    @property
    def vpc_arn(self) -> str:
        return self.arn("ec2", f"vpc/{self.vpc_id}")

    @property
    def cluster_tag_key(self) -> str:
        return CLUSTER_TAG_PREFIX + self.cluster_name


def _value(record: ResourceRecord, key: str, *, state_first: bool = False) -> Any:
    sources = (record.state, record.inputs) if state_first else (record.inputs, record.state)
    for source in sources:
        value = unwrap_secrets(source.get(key))
        if value is not None and not is_unknown(value):
            return value
    return None


def _document(value: Any, where: str) -> PolicyDocument:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise StackFactsError(f"{where}: policy is {type(value).__name__}, not a JSON document (a preview render?)")
    document = json.loads(value)
    if not isinstance(document, dict):
        raise StackFactsError(f"{where}: policy is not a JSON object")
    return document


def _references(graph: Graph, record: ResourceRecord, key: str, type_token: str) -> list[ResourceRecord]:
    """The resources of `type_token` that `record`'s input `key` was computed from."""
    urns = record.property_dependencies.get(key, ())
    return [graph.get(urn) for urn in urns if urn in {r.urn for r in graph.by_type(type_token)}]


def _role_physical_name(graph: Graph, role: ResourceRecord) -> str:
    name = _value(role, "name", state_first=True)
    if isinstance(name, str):
        return name
    arn = _value(role, "arn", state_first=True)
    if isinstance(arn, str):
        return arn.rsplit("/", 1)[-1]
    return role.id or role.name


def _attached(graph: Graph, role: ResourceRecord) -> list[tuple[str, ResourceRecord | None]]:
    """(policy ARN, the customer-managed Policy resource if the graph has it) for each attachment."""
    attached: list[tuple[str, ResourceRecord | None]] = []
    for attachment in graph.by_type(ROLE_POLICY_ATTACHMENT):
        if role.urn not in attachment.property_dependencies.get("role", ()) and attachment.parent != role.urn:
            continue
        arn = _value(attachment, "policyArn")
        if not isinstance(arn, str):
            raise StackFactsError(f"{attachment.name}: policyArn is not known")
        policies = _references(graph, attachment, "policyArn", MANAGED_POLICY)
        attached.append((arn, policies[0] if policies else None))
    for arn in _value(role, "managedPolicyArns") or []:
        attached.append((str(arn), None))
    return attached


def _role_policies(graph: Graph, role: ResourceRecord) -> tuple[NamedPolicy, ...]:
    policies: list[NamedPolicy] = []
    for inline in graph.by_type(ROLE_POLICY):
        if role.urn in inline.property_dependencies.get("role", ()) or inline.parent == role.urn:
            policies.append(NamedPolicy(inline.name, _document(_value(inline, "policy"), inline.name)))
    for index, inline in enumerate(_value(role, "inlinePolicies") or []):
        name = str(inline.get("name") or f"{role.name}-inline-{index}")
        policies.append(NamedPolicy(name, _document(inline.get("policy"), name)))
    for arn, resource in _attached(graph, role):
        if resource is not None:
            policies.append(NamedPolicy(arn, _document(_value(resource, "policy"), resource.name)))
        else:
            policies.append(NamedPolicy(arn, managed_policy_document(arn)))
    return tuple(policies)


def _role_key(logical_name: str) -> str:
    for key in ("control-plane", "worker"):
        if logical_name.endswith(f"-{key}"):
            return key
    raise StackFactsError(f"role {logical_name}: not a control-plane or worker role")


def _kms_keys(graph: Graph, partition: str, region: str, account: str) -> dict[str, KeyFacts]:
    """Key URN -> facts; KeyPolicy resources override the Key's own `policy` input."""
    keys: dict[str, KeyFacts] = {}
    for key in graph.by_type(KMS_KEY):
        arn = _value(key, "arn", state_first=True) or f"arn:{partition}:kms:{region}:{account}:key/{key.id}"
        policy = _value(key, "policy")
        keys[key.urn] = KeyFacts(key.name, str(arn), _document(policy, key.name) if policy else None)
    for key_policy in graph.by_type(KMS_KEY_POLICY):
        targets = _references(graph, key_policy, "keyId", KMS_KEY)
        if len(targets) != 1:
            raise StackFactsError(f"{key_policy.name}: its keyId names no KMS key of the render")
        old = keys[targets[0].urn]
        keys[targets[0].urn] = KeyFacts(
            old.logical_name, old.arn, _document(_value(key_policy, "policy"), old.logical_name)
        )
    return keys


def _parameter_key(graph: Graph, parameter: ResourceRecord, keys: Mapping[str, KeyFacts]) -> KeyFacts | None:
    key_id = _value(parameter, "keyId")
    if not key_id or str(key_id) in ("alias/aws/ssm",) or str(key_id).endswith(":alias/aws/ssm"):
        return None
    direct = _references(graph, parameter, "keyId", KMS_KEY)
    if not direct:
        for alias in _references(graph, parameter, "keyId", KMS_ALIAS):
            direct += _references(graph, alias, "targetKeyId", KMS_KEY)
    if not direct:
        matches = [k for k in keys.values() if str(key_id) in (k.arn, k.arn.rsplit("/", 1)[-1])]
        if matches:
            return matches[0]
        raise StackFactsError(f"parameter {parameter.name}: key {key_id} is not a KMS key of the render")
    return keys[direct[0].urn]


def _cluster_name(vpc: ResourceRecord) -> str:
    tags = _value(vpc, "tags") or {}
    names = [key.removeprefix(CLUSTER_TAG_PREFIX) for key in tags if key.startswith(CLUSTER_TAG_PREFIX)]
    if len(names) != 1:
        raise StackFactsError(f"VPC {vpc.name}: expected one {CLUSTER_TAG_PREFIX}<name> tag, got {names}")
    return names[0]


def _node_security_groups(graph: Graph, facts_arn: Callable[[str, str], str]) -> tuple[SecurityGroupFacts, ...]:
    attached: set[str] = set()
    for instance in graph.by_type(INSTANCE):
        attached.update(instance.property_dependencies.get("vpcSecurityGroupIds", ()))
    for template in graph.by_type(LAUNCH_TEMPLATE):  # the workers' groups: on their launch template
        attached.update(template.property_dependencies.get("networkInterfaces", ()))
        attached.update(template.property_dependencies.get("vpcSecurityGroupIds", ()))
    groups = [g for g in graph.by_type(SECURITY_GROUP) if not attached or g.urn in attached]
    return tuple(
        SecurityGroupFacts(g.name, str(g.id), facts_arn("ec2", f"security-group/{g.id}"), dict(_value(g, "tags") or {}))
        for g in groups
    )


def _region(graph: Graph) -> str:
    """The region of the subnets' zones (us-east-1a -> us-east-1), else the stack's aws:region."""
    zones = {str(_value(s, "availabilityZone")) for s in graph.by_type("aws:ec2/subnet:Subnet")}
    regions = {re.sub(r"[a-z]+$", "", zone) for zone in zones if zone and zone != "None"}
    if len(regions) == 1:
        return regions.pop()
    config = stack_config(graph.stack_name) if graph.stack_name else {}
    return str(config.get("aws:region") or DEFAULT_REGION)


def stack_facts(graph: Graph) -> StackFacts:
    """The IAM-relevant facts of an up-mode render; StackFactsError names what is missing."""
    if graph.preview:
        raise StackFactsError("the IAM tier needs an up-mode render (preview leaves ARNs and documents unknown)")
    region = _region(graph)
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    vpcs = graph.by_type(VPC)
    if len(vpcs) != 1:
        raise StackFactsError(f"expected one VPC in the render, found {len(vpcs)}")
    vpc = vpcs[0]
    roles: dict[str, RoleFacts] = {}
    account = ACCOUNT_ID
    for role in graph.by_type(ROLE):
        name = _role_physical_name(graph, role)
        arn = _value(role, "arn", state_first=True) or f"arn:{partition}:iam::{account}:role/{name}"
        account = str(arn).split(":")[4] or account
        key = _role_key(role.name)
        roles[key] = RoleFacts(key, role.name, name, str(arn), _role_policies(graph, role))

    def regional_arn(service: str, resource: str) -> str:
        return f"arn:{partition}:{service}:{region}:{account}:{resource}"

    keys = _kms_keys(graph, partition, region, account)
    parameters = []
    for parameter in graph.by_type(SSM_PARAMETER):
        name = str(_value(parameter, "name"))
        parameters.append(
            ParameterFacts(
                parameter.name,
                name,
                regional_arn("ssm", f"parameter/{name.lstrip('/')}"),
                _value(parameter, "type") == "SecureString",
                _parameter_key(graph, parameter, keys),
            )
        )
    tokens = [p.name for p in parameters if p.name.endswith(TOKEN_SUFFIX)]
    if len(tokens) != 1:
        raise StackFactsError(f"expected one bootstrap token parameter (*{TOKEN_SUFFIX}), found {tokens}")
    nodes = graph.by_type(INSTANCE) + graph.by_type(LAUNCH_TEMPLATE)
    instance_types = sorted({str(_value(i, "instanceType")) for i in nodes})
    return StackFacts(
        stack=graph.stack_name,
        cluster_name=_cluster_name(vpc),
        partition=partition,
        region=region,
        account=account,
        vpc_id=str(vpc.id),
        ssm_prefix=tokens[0].removesuffix(TOKEN_SUFFIX),
        roles=roles,
        parameters=tuple(sorted(parameters, key=lambda p: p.name)),
        keys=tuple(keys.values()),
        node_security_groups=_node_security_groups(graph, regional_arn),
        vpc_tags=dict(_value(vpc, "tags") or {}),
        instance_types=tuple(instance_types),
    )


def other_cluster_prefix(facts: StackFacts) -> str:
    """The SSM prefix of a neighbouring cluster in the same account (`<prefix of ours>-other`)."""
    return re.sub(r"/[^/]+$", f"/{facts.cluster_name}-other", facts.ssm_prefix)
