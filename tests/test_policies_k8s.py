"""Kubernetes, CCM, kubelet and RBAC rules: each passes on the rendered stacks and fails on the field
report's mistakes, made to the rendered resources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import RenderGraph

from components.render.user_data_encoding import decode_user_data, encode_user_data
from policies import facts
from tools.policy_report import Captured, captured_from_graph, edit_resources, named, run_policy

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"
STACKS = ("dev", "k8s-1-21", "k8s-1-22", "k8s-1-35")
Edit = Callable[[dict[str, Any]], object]


@pytest.fixture(scope="module")
def rendered(render_graph: RenderGraph) -> dict[str, list[Captured]]:
    return {stack: captured_from_graph(render_graph(stack)) for stack in STACKS}


def messages(policy: str, resources: list[Captured]) -> list[str]:
    return [violation.message for violation in run_policy(policy, resources)]


def of_type(type_token: str, name_end: str = "") -> Callable[[Captured], bool]:
    return lambda resource: resource.type == type_token and resource.name.endswith(name_end)


def edit_ccm(resources: list[Captured], edit: Edit) -> list[Captured]:
    return edit_resources(resources, of_type(DAEMONSET), lambda p: edit(p["spec"]["template"]["spec"]))


def container(spec: dict[str, Any]) -> dict[str, Any]:
    (found,) = spec["containers"]
    return found


def set_image(tag: str, repository: str = "registry.k8s.io/provider-aws/cloud-controller-manager") -> Edit:
    return lambda spec: container(spec).update(image=f"{repository}:{tag}")


def edit_user_data(
    resources: list[Captured], old: str, new: str, types: tuple[str, ...] = (INSTANCE, LAUNCH_TEMPLATE)
) -> list[Captured]:
    """Edit every node's cloud-config (the control planes' instances, the workers' launch template) and
    send it as the program does: gzip-compressed, base64."""

    def edit(props: dict[str, Any]) -> None:
        key = "userDataBase64" if "userDataBase64" in props else "userData"
        text = decode_user_data(props[key])
        assert old in text
        props[key] = encode_user_data(text.replace(old, new), node="edited")

    return edit_resources(resources, lambda r: r.type in types, edit)


def set_cloud_config(text: str) -> Edit:
    return lambda props: props["data"].update({"cloud.conf": text})


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(
    "policy",
    [
        "kubelet-cloud-provider-external",
        "kubelet-node-ip-supported",
        "ccm-within-version-skew",
        "kubelet-within-version-skew",
        "ccm-image-published",
        "cloud-config-format",
        "cloud-config-keys-match-ccm-release",
        "ccm-args",
        "ccm-tolerations",
        "ccm-host-network-with-imds-hop-limit-1",
        "ccm-rbac-sufficient",
        "rbac-no-wildcard",
        "secrets-readable-only-in-kube-system",
    ],
)
def test_rendered_stacks_pass(rendered: dict[str, list[Captured]], stack: str, policy: str) -> None:
    assert messages(policy, rendered[stack]) == []


# -- kubelet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "old", "new", "shown"),
    [
        ("dev", "        cloud-provider: external\n", "", "no --cloud-provider"),
        ("k8s-1-21", "cloud-provider: external", "cloud-provider: aws", "--cloud-provider=aws"),
        ("k8s-1-35", "      - name: cloud-provider\n        value: external\n", "", "no --cloud-provider"),
    ],
)
def test_kubelet_cloud_provider_external(
    rendered: dict[str, list[Captured]], stack: str, old: str, new: str, shown: str
) -> None:
    found = messages("kubelet-cloud-provider-external", edit_user_data(rendered[stack], old, new))
    # The control plane's instance and the workers' launch template.
    assert len(found) == 2 and all(f"starts the kubelet with {shown}:" in message for message in found)


def test_kubelet_flags_on_a_kubelet_command_line(rendered: dict[str, list[Captured]]) -> None:
    script = "#!/bin/bash\napt-get install -y kubelet\nExecStart=/usr/bin/kubelet \\\n  --node-ip=10.0.0.7 {}\n"
    node = named(rendered["dev"], LAUNCH_TEMPLATE, "dev-workers")

    def with_script(flag: str) -> list[Captured]:
        return edit_resources(
            [node], lambda _: True, lambda p: p.update(userData=encode_user_data(script.format(flag), "edited"))
        )

    assert messages("kubelet-cloud-provider-external", with_script("--cloud-provider=external")) == []
    assert len(messages("kubelet-cloud-provider-external", with_script("--cloud-provider aws"))) == 1


@pytest.mark.parametrize(
    ("stack", "old", "new", "expected"),
    [
        (
            "dev",
            'node-ip: "${NODE_IPV6}"',
            'node-ip: "${NODE_IPV6},${NODE_IPV4}"',
            "--node-ip=${NODE_IPV6},${NODE_IPV4} gives two addresses, which kubelet 1.22 refuses with a cloud provider "
            "(CloudDualStackNodeIPs, 1.29+): give one address (IPv6 with NodeIPFamilies ipv6 + ipv4) or none.",
        ),
        (
            "k8s-1-21",
            "cloud-provider: external",
            'cloud-provider: external\n        node-ip: "10.0.0.7,2600:1f18::7"',
            "--node-ip=10.0.0.7,2600:1f18::7 gives two addresses, which kubelet 1.21 refuses",
        ),
        (
            "k8s-1-35",
            'value: "${NODE_IPV6},${NODE_IPV4}"',
            'value: "${NODE_IPV6},${NODE_IPV6}"',
            "--node-ip=${NODE_IPV6},${NODE_IPV6} gives two addresses of one family",
        ),
        ("k8s-1-35", 'value: "${NODE_IPV6},${NODE_IPV4}"', 'value: "eth0"', "--node-ip=eth0 is not a list of IP"),
        (
            "k8s-1-35",
            'value: "${NODE_IPV6},${NODE_IPV4}"',
            'value: "10.0.0.7,2600:1f18::7,10.0.0.8"',
            "has 3 addresses; at most one per family",
        ),
    ],
    ids=["dual-on-1.22", "dual-on-1.21", "same-family", "not-an-ip", "three"],
)
def test_kubelet_node_ip_form(
    rendered: dict[str, list[Captured]], stack: str, old: str, new: str, expected: str
) -> None:
    found = messages("kubelet-node-ip-supported", edit_user_data(rendered[stack], old, new))
    assert found and all(expected in message for message in found)


# -- the CCM ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "tag", "problem"),
    [
        ("dev", "v1.23.17", "(CCM 1.23) with Kubernetes 1.22: newer than the API server"),
        ("k8s-1-35", "v1.33.3", "(CCM 1.33) with Kubernetes 1.35: more than one minor older"),
        ("k8s-1-35", "v1.34.3", None),  # one minor older: the CCM follows the API server in an upgrade
        ("k8s-1-21", "v1.21.3", None),
    ],
)
def test_ccm_within_version_skew(
    rendered: dict[str, list[Captured]], stack: str, tag: str, problem: str | None
) -> None:
    found = messages("ccm-within-version-skew", edit_ccm(rendered[stack], set_image(tag)))
    if problem is None:
        assert found == []
    else:
        (message,) = found
        assert problem in message and "the CCM follows the API server" in message, message


@pytest.mark.parametrize(
    ("stack", "old", "new", "problem"),
    [
        ("dev", "v1.22.17", "v1.23.17", "installs kubelet 1.23 with a control plane of 1.22: newer than"),
        ("k8s-1-35", "v1.35.3", "v1.31.14", "kubelet 1.31 with a control plane of 1.35: more than 3 minors older"),
        ("k8s-1-22", "v1.22.17", "v1.21.14", None),
    ],
)
def test_workers_kubelet_within_version_skew(
    rendered: dict[str, list[Captured]], stack: str, old: str, new: str, problem: str | None
) -> None:
    workers_only = edit_user_data(rendered[stack], old, new, types=(LAUNCH_TEMPLATE,))
    found = messages("kubelet-within-version-skew", workers_only)
    if problem is None:
        assert found == []
    else:
        (message,) = found
        assert problem in message, message


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (
            "gcr.io/k8s-staging-provider-aws/cloud-controller-manager:v20210510-v1.21.0-alpha.0",
            "comes from gcr.io/k8s-staging-provider-aws/cloud-controller-manager, not the promoted",
        ),
        ("registry.k8s.io/provider-aws/cloud-controller-manager:v1.22.7", "a git tag for which no image was promoted"),
        ("registry.k8s.io/provider-aws/cloud-controller-manager:latest", "is not pinned to a release tag"),
        ("registry.k8s.io/provider-aws/cloud-controller-manager:v1.21.0-alpha.0", "reports no IPv6 node address"),
    ],
)
def test_ccm_image_is_a_published_release(rendered: dict[str, list[Captured]], image: str, problem: str) -> None:
    repository, tag = image.rsplit(":", 1)
    found = messages("ccm-image-published", edit_ccm(rendered["k8s-1-21"], set_image(tag, repository)))
    assert any(problem in message for message in found), found


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[Global]\nZone = us-east-1a\nNodeIPFamilies = ipv4,ipv6\n",
            "line 3: NodeIPFamilies = ipv4,ipv6 is one value that matches no family; write one line per family",
        ),
        ("[Global]\nNodeIPFamilies = ipv6\nNodeIPFamilies = IPv4\n", "line 3: NodeIPFamilies = 'IPv4' is neither"),
        ("[Global]\nNodeIPFamilies = ipv6\nNodeIPFamilies = ipv6\n", "line 3: NodeIPFamilies = ipv6 is given twice"),
        ("[Global]\nNodeIpFamily = ipv6\n", "line 2: no CCM release knows the key 'NodeIpFamily'"),
        ("[Global]\nZone = a\n[Glbal]\nVPC = vpc-1\n", "line 3: unknown section [Glbal]"),
        ("[Global]\nZone us-east-1a = x\n", "line 2: 'Zone us-east-1a = x' is not `Key = value`"),
    ],
)
def test_cloud_config_format(rendered: dict[str, list[Captured]], text: str, problem: str) -> None:
    resources = edit_resources(rendered["dev"], of_type(CONFIG_MAP), set_cloud_config(text))
    (found,) = messages("cloud-config-format", resources)
    assert found.startswith("Cloud config 'dev-ccm-configmap-kube-system-aws-cloud-config' (cloud.conf) line ")
    assert problem in found


def test_cloud_config_format_accepts_gcfg_spelling(rendered: dict[str, list[Captured]]) -> None:
    text = (
        '; comment\n[global]\nnodeipfamilies = "ipv6" ; inline\nNodeIPFamilies = ipv4\n[ServiceOverride "1"]\n'
        "Service = ec2\nURL = https://ec2.us-east-1.amazonaws.com\n"
    )
    assert (
        messages("cloud-config-format", edit_resources(rendered["dev"], of_type(CONFIG_MAP), set_cloud_config(text)))
        == []
    )


@pytest.mark.parametrize(
    ("stack", "line", "expected"),
    [
        (
            "k8s-1-21",
            "NodeIPFamilies = ipv6",
            "NodeIPFamilies is unknown to CCM 1.21 (known from 1.22); the CCM exits "
            'with `can\'t store data at section "Global", variable "NodeIPFamilies"`',
        ),
        ("dev", "Region = us-east-1", "Region is unknown to CCM 1.22 (known from 1.28)"),
        (
            "k8s-1-35",
            "DisableStrictZoneCheck = true",
            "DisableStrictZoneCheck is unknown to CCM 1.35 (known from 1.20 until 1.28)",
        ),
    ],
)
def test_cloud_config_keys_follow_the_ccm_release(
    rendered: dict[str, list[Captured]], stack: str, line: str, expected: str
) -> None:
    resources = edit_resources(
        rendered[stack],
        of_type(CONFIG_MAP),
        lambda p: p["data"].update({"cloud.conf": p["data"]["cloud.conf"] + line + "\n"}),
    )
    (found,) = messages("cloud-config-keys-match-ccm-release", resources)
    assert found.startswith(
        f"Cloud config '{stack}-ccm-configmap-kube-system-aws-cloud-config' of CCM "
        "'aws-cloud-controller-manager': line "
    )
    assert expected in found


def test_region_is_fine_from_1_28(rendered: dict[str, list[Captured]]) -> None:
    config_map = named(rendered["k8s-1-35"], CONFIG_MAP, "k8s-1-35-ccm-configmap-kube-system-aws-cloud-config")
    assert "Region = us-east-1" in config_map.inputs["data"]["cloud.conf"]
    assert messages("cloud-config-keys-match-ccm-release", rendered["k8s-1-35"]) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: container(s).update(
                args=[a for a in container(s)["args"] if not a.startswith("--cloud-provider")]
            ),
            "does not run with --cloud-provider=aws",
        ),
        (
            lambda s: container(s)["args"].__setitem__(0, "--cloud-provider=external"),
            "does not run with --cloud-provider",
        ),
        (
            lambda s: container(s).update(args=[a for a in container(s)["args"] if not a.startswith("--cloud-config")]),
            "has no --cloud-config",
        ),
        (
            lambda s: container(s).update(
                volumeMounts=[m for m in container(s)["volumeMounts"] if m["name"] != "client-ca"]
            ),
            "reads --client-ca-file=/etc/kubernetes/aws-ccm/client-ca/ca.crt, which no volumeMount provides",
        ),
    ],
    ids=["no-cloud-provider", "external", "no-cloud-config", "unmounted-ca"],
)
def test_ccm_args(rendered: dict[str, list[Captured]], edit: Edit, expected: str) -> None:
    (found,) = messages("ccm-args", edit_ccm(rendered["dev"], edit))
    assert expected in found


def test_ccm_args_accept_the_two_word_form(rendered: dict[str, list[Captured]]) -> None:
    def split(spec: dict[str, Any]) -> None:
        container(spec)["args"][0:1] = ["--cloud-provider", "aws"]

    assert messages("ccm-args", edit_ccm(rendered["dev"], split)) == []


@pytest.mark.parametrize(
    ("stack", "removed"),
    [
        ("dev", "node.cloudprovider.kubernetes.io/uninitialized"),
        ("k8s-1-35", "node-role.kubernetes.io/control-plane"),
    ],
)
def test_ccm_tolerations(rendered: dict[str, list[Captured]], stack: str, removed: str) -> None:
    def drop(spec: dict[str, Any]) -> None:
        spec["tolerations"] = [t for t in spec["tolerations"] if t["key"] != removed]

    (found,) = messages("ccm-tolerations", edit_ccm(rendered[stack], drop))
    assert f"does not tolerate the NoSchedule taint {removed}" in found
    everything = edit_ccm(rendered[stack], lambda spec: spec.update(tolerations=[{"operator": "Exists"}]))
    assert messages("ccm-tolerations", everything) == []


def test_ccm_on_pod_network_needs_a_hop_limit_above_one(rendered: dict[str, list[Captured]]) -> None:
    pod_network = edit_ccm(rendered["dev"], lambda spec: spec.pop("hostNetwork"))
    (found,) = messages("ccm-host-network-with-imds-hop-limit-1", pod_network)
    assert "is not on the host network while dev-control-plane-node, dev-workers allow IMDS hop limit 1" in found
    two_hops = edit_resources(
        pod_network,
        lambda r: r.type in (INSTANCE, LAUNCH_TEMPLATE),
        lambda p: p["metadataOptions"].update(httpPutResponseHopLimit=2.0),
    )
    assert messages("ccm-host-network-with-imds-hop-limit-1", two_hops) == []


# -- RBAC ------------------------------------------------------------------------------------


def drop_rules(resource: str) -> Edit:
    return lambda p: p.update(rules=[rule for rule in p["rules"] if rule["resources"] != [resource]])


@pytest.mark.parametrize(
    ("select", "edit", "expected"),
    [
        (
            of_type(RBAC + "ClusterRole", "controller-manager"),
            drop_rules("serviceaccounts"),
            'may not get serviceaccounts in kube-system (the field report\'s `serviceaccounts "aws-cloud-provider" is '
            "forbidden ... cannot get`)",
        ),
        (
            of_type(RBAC + "ClusterRole", "controller-manager"),
            drop_rules("nodes"),
            "may not list nodes cluster-wide "
            '(the field report\'s `nodes is forbidden ... cannot list resource "nodes"`)',
        ),
        (
            of_type(RBAC + "RoleBinding", "authentication-reader"),
            lambda p: p["roleRef"].update(name="missing"),
            "may not get configmaps extension-apiserver-authentication in kube-system",
        ),
    ],
    ids=["serviceaccounts", "nodes", "auth-reader"],
)
def test_ccm_rbac_sufficient(
    rendered: dict[str, list[Captured]], select: Callable[[Captured], bool], edit: Edit, expected: str
) -> None:
    found = messages("ccm-rbac-sufficient", edit_resources(rendered["dev"], select, edit))
    assert any(f"CCM service account kube-system/cloud-controller-manager {expected}" in m for m in found), found


def test_ccm_secrets_are_required_only_for_a_release_that_reads_them(
    rendered: dict[str, list[Captured]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No release of the matrix reads Secrets, and the stacks grant none; were dev's 1.22 CCM one
    # that reads them, the same RBAC would be insufficient.
    assert not any("secrets" in m for m in messages("ccm-rbac-sufficient", rendered["dev"]))
    monkeypatch.setattr(facts, "CCM_READS_SECRETS", (("1.22", "1.23"),))
    found = messages("ccm-rbac-sufficient", rendered["dev"])
    assert [m for m in found if "secrets" in m] == [
        f"CCM service account kube-system/cloud-controller-manager may not {verb} secrets in kube-system (its "
        "release reads Secrets there, docs/reference/flags-and-rbac.md): grant it through the CCM's "
        "ClusterRole/Role bindings (components/render/rbac.py)."
        for verb in ("get", "list", "watch")
    ]
    assert not any("secrets" in m for m in messages("ccm-rbac-sufficient", rendered["k8s-1-35"]))


def test_no_wildcard_roles_or_cluster_admin(rendered: dict[str, list[Captured]]) -> None:
    star = edit_resources(
        rendered["dev"],
        of_type(RBAC + "ClusterRole", "aws-controllers"),
        lambda p: p["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
    )
    admin = edit_resources(
        star,
        of_type(RBAC + "ClusterRoleBinding", "aws-controllers"),
        lambda p: p["roleRef"].update(name="cluster-admin"),
    )
    assert messages("rbac-no-wildcard", admin) == [
        "ClusterRole 'system:cloud-controller-manager:aws-controllers' grants every verb on every resource "
        "({'apiGroups': ['*'], 'resources': ['*'], 'verbs': ['*']}): list the verbs and resources the workload needs.",
        "ClusterRoleBinding 'dev-ccm-clusterrolebinding-system-cloud-controller-manager-aws-controllers' binds "
        "cluster-admin (every verb on every resource): bind a role with only the permissions needed.",
    ]


def test_secrets_readable_only_in_kube_system(rendered: dict[str, list[Captured]]) -> None:
    cluster_wide = edit_resources(
        rendered["dev"],
        of_type(RBAC + "ClusterRole", "aws-controllers"),
        lambda p: p["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}),
    )
    assert messages("secrets-readable-only-in-kube-system", cluster_wide) == [
        "ClusterRoleBinding 'system:cloud-controller-manager:aws-controllers' lets ServiceAccount aws-cloud-provider, "
        "ServiceAccount tagging-controller list secrets in every namespace: grant secrets only through a Role and "
        "RoleBinding in kube-system."
    ]
    # A Role and RoleBinding outside kube-system that let the CCM read secrets there.
    binding = next(filter(of_type(RBAC + "RoleBinding", "authentication-reader"), rendered["dev"]))
    metadata = {"name": "reader", "namespace": "default"}
    role = replace(
        binding,
        type=RBAC + "Role",
        name="reader",
        urn=f"{binding.urn}-reader-role",
        inputs={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata,
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}],
        },
    )
    bound = replace(
        binding,
        name="reader",
        urn=f"{binding.urn}-reader-binding",
        inputs={
            **binding.inputs,
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        },
    )
    (found,) = messages("secrets-readable-only-in-kube-system", [*rendered["dev"], role, bound])
    assert "get/list/watch secrets in namespace default" in found
