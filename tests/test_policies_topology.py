"""The production topology's rules on the rendered stacks: they pass, and each mistake is caught."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import STACKS, RenderGraph

from components.render.user_data_encoding import decode_user_data
from tools.policy_report import Captured, captured_from_graph, edit_resources, run_policy

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
POLICIES = (
    "api-load-balancer-dual-stack",
    "target-group-client-ip-preservation-off",
    "launch-template-ipv6",
    "control-plane-count-odd",
)


@pytest.fixture(scope="module")
def rendered(render_graph: RenderGraph) -> dict[str, list[Captured]]:
    return {stack: captured_from_graph(render_graph(stack)) for stack in STACKS}


def messages(policy: str, resources: list[Captured]) -> list[str]:
    return [violation.message for violation in run_policy(policy, resources)]


def of_type(type_token: str) -> Any:
    return lambda resource: resource.type == type_token


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("policy", POLICIES)
def test_rendered_stacks_pass(rendered: dict[str, list[Captured]], stack: str, policy: str) -> None:
    assert messages(policy, rendered[stack]) == []


def test_prod_has_what_the_rules_judge(rendered: dict[str, list[Captured]]) -> None:
    types = [resource.type for resource in rendered["prod"]]
    assert types.count(LOAD_BALANCER) == types.count(TARGET_GROUP) == 1 and types.count(INSTANCE) == 3


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda p: p.update(ipAddressType="ipv4"), "has ipAddressType ipv4: a dual-stack cluster's API endpoint"),
        (lambda p: p.pop("ipAddressType"), "has ipAddressType ipv4 (the default)"),
    ],
)
def test_an_ipv4_only_network_load_balancer_is_caught(
    rendered: dict[str, list[Captured]], edit: Any, says: str
) -> None:
    (found,) = messages("api-load-balancer-dual-stack", edit_resources(rendered["prod"], of_type(LOAD_BALANCER), edit))
    assert says in found


@pytest.mark.parametrize("edit", [lambda p: p.update(preserveClientIp="true"), lambda p: p.pop("preserveClientIp")])
def test_client_ip_preservation_on_or_unset_is_caught(rendered: dict[str, list[Captured]], edit: Any) -> None:
    resources = edit_resources(rendered["prod"], of_type(TARGET_GROUP), edit)
    (found,) = messages("target-group-client-ip-preservation-off", resources)
    assert "keeps client-IP preservation on" in found and "sent to itself" in found


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda i: i.update(ipv6AddressCount=0), "has no IPv6 address (ipv6_address_count = 1)"),
        (lambda i: i.update(primaryIpv6="false"), "has no primary IPv6 address"),
    ],
)
def test_a_launch_template_without_ipv6_is_caught(rendered: dict[str, list[Captured]], edit: Any, says: str) -> None:
    resources = edit_resources(rendered["prod"], of_type(LAUNCH_TEMPLATE), lambda p: edit(p["networkInterfaces"][0]))
    (found,) = messages("launch-template-ipv6", resources)
    assert says in found


def test_a_launch_template_without_interfaces_is_caught(rendered: dict[str, list[Captured]]) -> None:
    resources = edit_resources(rendered["dev"], of_type(LAUNCH_TEMPLATE), lambda p: p.pop("networkInterfaces"))
    (found,) = messages("launch-template-ipv6", resources)
    assert "declares no primary network interface" in found


def test_an_even_number_of_control_planes_is_caught(rendered: dict[str, list[Captured]]) -> None:
    prod = rendered["prod"]
    instances = [resource for resource in prod if resource.type == INSTANCE]
    joining = next(i for i in instances if "controlPlane:" in decode_user_data(i.inputs["userDataBase64"]))
    fourth = type(joining)(**{**joining.__dict__, "name": "prod-control-plane-3", "urn": joining.urn + "-4th"})
    (found,) = messages("control-plane-count-odd", [*prod, fourth])
    assert found.startswith("4 control planes (") and "Use 1, 3 or 5" in found
    # An instance that boots a worker (the launch template's user data) does not count.
    (template,) = [resource for resource in prod if resource.type == LAUNCH_TEMPLATE]
    worker = type(joining)(
        **{
            **joining.__dict__,
            "name": "prod-extra-worker",
            "urn": joining.urn + "-worker",
            "inputs": {**joining.inputs, "userDataBase64": template.inputs["userData"]},
        }
    )
    assert "JoinConfiguration" in decode_user_data(template.inputs["userData"])
    assert messages("control-plane-count-odd", [*prod, worker]) == []
