"""The cluster's secrets key in the program graph, for every stack in preview and up mode: one key
per cluster, every SecureString under it, no managed SSM policy on a node role, nodes booting after
the key; and in up mode the key policy the program sends, naming the roles it created."""

from __future__ import annotations

import json

from conftest import EVERY_STACK, MODES, RenderGraph, cluster_name

from components.firewall import NodeRole
from components.pki_layout import CONTROL_PLANE_FILES
from components.render.secrets_access import ParameterScope, secrets_key_policy, ssm_agent_policy
from components.secrets_key import DELETION_WINDOW_DAYS
from tools.offline.capture import Graph, ResourceRecord, is_unknown
from tools.offline.mocks import ACCOUNT_ID
from tools.offline.stackfiles import stack_config

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
PARAMETER = "aws:ssm/parameter:Parameter"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
INSTANCE = "aws:ec2/instance:Instance"


def the_key(graph: Graph) -> ResourceRecord:
    (key,) = graph.by_type(KEY)
    return key


def secure_strings(graph: Graph) -> list[ResourceRecord]:
    return [p for p in graph.by_type(PARAMETER) if p.inputs["type"] == "SecureString"]


@EVERY_STACK
@MODES
def test_one_rotating_key_per_cluster_with_its_alias(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    name = cluster_name(stack)
    key = the_key(graph)
    assert key.parent and graph.get(key.parent).type == "k8sdualstack:secrets:ClusterSecretsKey"
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == DELETION_WINDOW_DAYS == 7
    assert key.inputs["keyUsage"] == "ENCRYPT_DECRYPT" and key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.inputs["tags"][f"kubernetes.io/cluster/{name}"] == "owned"
    assert "bypassPolicyLockoutSafetyCheck" not in key.inputs
    (alias,) = graph.by_type(ALIAS)
    assert alias.inputs["name"] == f"alias/k8s-dualstack-aws/{name}"
    assert alias.property_dependencies["targetKeyId"] == (key.urn,)
    # The key policy names both node roles: the roles exist first, and outlive the key on destroy.
    roles = {role.urn for role in graph.by_type(ROLE)}
    assert len(roles) == 2 and set(key.property_dependencies["policy"]) == roles


@EVERY_STACK
@MODES
def test_every_secure_string_is_encrypted_with_the_cluster_key(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    key = the_key(graph)
    secure = secure_strings(graph)
    assert len(secure) == sum(f.secret for f in CONTROL_PLANE_FILES) + 1  # and the join token
    for parameter in secure:
        # Created after the key, deleted before it (pulumi destroy follows dependencies backwards).
        assert parameter.property_dependencies["keyId"] == (key.urn,), parameter.name
        if preview:
            assert is_unknown(parameter.inputs["keyId"])
        else:
            assert parameter.inputs["keyId"] == key.state["arn"], parameter.name
    assert all("keyId" not in p.inputs for p in graph.by_type(PARAMETER) if p.inputs["type"] == "String")


@EVERY_STACK
@MODES
def test_no_node_role_gets_a_managed_policy(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    assert not [r.urn for r in graph.resources if r.type.startswith("aws:iam/") and "ttachment" in r.type]
    assert not [r.urn for r in graph.resources if "SSMManaged" in json.dumps(r.inputs, default=str)]
    for role in graph.by_type(ROLE):
        assert not role.inputs.get("managedPolicyArns"), role.name
        agent = graph.one(ROLE_POLICY, f"{role.name}-ssm-agent")
        assert json.loads(agent.inputs["policy"]) == ssm_agent_policy()
        assert agent.property_dependencies["role"] == (role.urn,)


@EVERY_STACK
@MODES
def test_nodes_boot_after_the_key_and_what_they_read(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    key = the_key(graph)
    token = next(p.urn for p in secure_strings(graph) if p.inputs["name"].endswith("/bootstrap/token"))
    for instance in graph.by_type(INSTANCE):
        role = "control-plane" if "control-plane" in instance.name else "worker"
        needed = {key.urn, token, graph.one(ROLE_POLICY, f"{cluster_name(stack)}-{role}-ssm-parameters").urn}
        if role == "control-plane":
            # Every parameter but the deployed-version record, which is written after the nodes.
            needed |= {p.urn for p in graph.by_type(PARAMETER) if "/state/" not in p.inputs["name"]}
        assert needed <= set(instance.dependencies), instance.name


@EVERY_STACK
def test_the_key_policy_is_the_rendered_one_for_the_created_roles(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    name = cluster_name(stack)
    arns = {role: graph.one(ROLE, f"{name}-{role.value}").state["arn"] for role in NodeRole}
    region = stack_config(stack)["aws:region"]
    scope = ParameterScope("aws", region, ACCOUNT_ID, f"/k8s-dualstack-aws/{name}")
    sent = json.loads(the_key(graph).inputs["policy"])
    assert sent == secrets_key_policy(scope, arns[NodeRole.CONTROL_PLANE], arns[NodeRole.WORKER])
    assert arns[NodeRole.WORKER] in json.dumps(sent) and arns[NodeRole.CONTROL_PLANE] in json.dumps(sent)
    assert graph.exports["secretsKeyArn"] == the_key(graph).state["arn"]


def test_the_cost_model_counts_the_key(render_graph: RenderGraph) -> None:
    from tools.bench import costs  # noqa: PLC0415 - only this test needs the bench tables

    inventory = costs.inventory(render_graph("dev", preview=True))
    assert inventory.kms_keys == 1
    lines = {line.item: line for line in costs.monthly(inventory)}
    assert (
        lines["KMS customer-managed keys"].monthly_usd == 1.0 and lines["KMS customer-managed keys"].counted == "1 key"
    )
