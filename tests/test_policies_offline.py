"""The pack as a whole: shipped stacks are clean, a broken render is caught end to end, `make render`
writes the report and fails on a mandatory violation, and the CLI entry point builds the pack."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, STACKS, RenderGraph
from pulumi_policy import EnforcementLevel, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.pack import PACK_NAME, POLICIES
from tools import policy_report, render
from tools.offline.capture import Graph
from tools.policy_report import Captured, captured_from_graph, edit_resources, evaluate, pack_config, run_policy

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def dev_config_map_cloud_conf(props: dict[str, Any]) -> None:
    props["data"]["cloud.conf"] = props["data"]["cloud.conf"].replace(
        "NodeIPFamilies = ipv4\nNodeIPFamilies = ipv6\n", "NodeIPFamilies = ipv4,ipv6\n"
    )


def broken_dev(resources: list[Captured]) -> list[Captured]:
    """The field report's mistakes on the rendered dev stack: IMDSv1, one comma-list NodeIPFamilies,
    the CCM image of the field report (1.21 on a 1.22 cluster: within the version skew policy, but its
    cloud config keys are not)."""
    imdsv1 = edit_resources(
        resources,
        lambda r: r.type == LAUNCH_TEMPLATE and r.name == "dev-workers",
        lambda p: p["metadataOptions"].update(httpTokens="optional"),
    )
    comma = edit_resources(imdsv1, lambda r: r.type == "kubernetes:core/v1:ConfigMap", dev_config_map_cloud_conf)
    return edit_resources(
        comma,
        lambda r: r.type == "kubernetes:apps/v1:DaemonSet",
        lambda p: p["spec"]["template"]["spec"]["containers"][0].update(
            image="registry.k8s.io/provider-aws/cloud-controller-manager:v1.21.3"
        ),
    )


def test_every_policy_has_description_severity_remediation_and_a_kebab_name() -> None:
    names = [policy.name for policy in POLICIES]
    assert len(names) == len(set(names)) == 32
    for policy in POLICIES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name), policy.name
        assert policy.description and policy.remediation_steps and policy.severity is not None
    levels = {policy.name: policy.enforcement_level for policy in POLICIES}
    assert [name for name, level in levels.items() if level != EnforcementLevel.MANDATORY] == ["nodes-use-ubuntu"]
    assert sum(isinstance(policy, StackValidationPolicy) for policy in POLICIES) == 9


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_shipped_stacks_have_no_violation(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    report = evaluate(captured_from_graph(render_graph(stack, preview=preview)), pack_config(stack), stack=stack)
    assert report.violations == [] and report.not_evaluable == []
    assert report.resources > 100


def test_a_broken_render_raises_the_matching_violations(render_graph: RenderGraph) -> None:
    report = evaluate(broken_dev(captured_from_graph(render_graph("dev"))), pack_config("dev"), stack="dev")
    found = {
        (violation.policy, violation.urn.rsplit("::", 1)[-1] if violation.urn else "")
        for violation in report.violations
    }
    assert found == {
        ("imdsv2-required", "dev-workers"),
        ("cloud-config-format", "dev-ccm-configmap-kube-system-aws-cloud-config"),
        # CCM 1.21 does not know NodeIPFamilies at all: the field report's fatal start-up error.
        ("cloud-config-keys-match-ccm-release", "dev-ccm-configmap-kube-system-aws-cloud-config"),
    }
    assert report.mandatory == len(report.violations) == 3
    text = "\n".join(violation.message for violation in report.violations)
    assert "allows IMDSv1 (http_tokens=optional)" in text
    assert "NodeIPFamilies = ipv4,ipv6 is one value that matches no family" in text
    assert "NodeIPFamilies is unknown to CCM 1.21" in text


def test_unknown_values_mean_cannot_tell(render_graph: RenderGraph) -> None:
    instance = next(r for r in captured_from_graph(render_graph("dev")) if r.type == INSTANCE)
    unknown = dataclasses.replace(
        instance,
        inputs={
            **instance.inputs,
            "userDataBase64": UNKNOWN_STRING_VALUE,
            "metadataOptions": UNKNOWN_STRING_VALUE,
            "rootBlockDevice": {"encrypted": UNKNOWN_STRING_VALUE},
        },
    )
    report = evaluate([unknown], {})
    assert report.violations == [] and report.not_evaluable == []
    preview = captured_from_graph(render_graph("k8s-1-35", preview=True))
    assert any(resource.inputs.get("userDataBase64") == UNKNOWN_STRING_VALUE for resource in preview)
    assert run_policy("ccm-within-version-skew", preview) == []  # cluster version unknown in a preview


def _graph_with(graph: Graph, resources: list[Captured]) -> Graph:
    inputs = {resource.urn: resource.inputs for resource in resources}
    records = [dataclasses.replace(record, inputs=copy.deepcopy(inputs[record.urn])) for record in graph.resources]
    return dataclasses.replace(graph, resources=records, _by_urn={})


def test_render_writes_the_report_and_fails_on_a_mandatory_violation(
    render_graph: RenderGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = render_graph("dev")
    monkeypatch.setattr(render, "run_program", lambda stack, preview, program=None, deployed_version=None: clean)
    assert render.main(["--stack", "dev", "--out", str(tmp_path), "--policies"]) == 0
    document = json.loads((tmp_path / "dev" / "policy-report.json").read_text())
    assert document["summary"] == {"mandatory": 0, "advisory": 0} and len(document["policies"]) == len(POLICIES)
    assert document["config"]["api-server-admin-cidrs-only"] == {
        "allowedAdminCidrs": ["192.0.2.0/24", "2001:db8:100::/48"]
    }
    assert "**0 mandatory**" in (tmp_path / "dev" / "policy-report.md").read_text()
    assert "policy pack k8s-dualstack-aws, stack dev (up): 32 policies" in capsys.readouterr().out

    broken = _graph_with(clean, broken_dev(captured_from_graph(clean)))
    monkeypatch.setattr(render, "run_program", lambda stack, preview, program=None, deployed_version=None: broken)
    assert render.main(["--stack", "dev", "--out", str(tmp_path), "--policies"]) == 1
    captured = capsys.readouterr()
    assert f"stack dev: 3 mandatory policy violation(s), see {tmp_path / 'dev' / 'policy-report.md'}" in captured.err
    assert "MANDATORY imdsv2-required: 'dev-workers' allows IMDSv1" in captured.out
    assert "- **mandatory** `cloud-config-format`" in (tmp_path / "dev" / "policy-report.md").read_text()
    assert render.main(["--stack", "dev", "--out", str(tmp_path)]) == 0  # without --policies: no gate, no report
    assert not (tmp_path / "dev" / "policy-report.json").exists()


def test_cli_writes_the_stack_config_and_checks_a_render(
    render_graph: RenderGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy_report.main(["config", "--stack", "k8s-1-21"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (
        config["cluster-tag"]
        == config["one-cluster-security-group-per-instance"]
        == {"clusterTagKey": "kubernetes.io/cluster/k8s-1-21"}
    )
    resources = render.write_resources(render_graph("k8s-1-21"), tmp_path / "k8s-1-21")[0]
    assert policy_report.main(["check", str(resources)]) == 0
    documents = json.loads(resources.read_text())
    for document in documents:
        if document["type"] in (INSTANCE, LAUNCH_TEMPLATE):
            document["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    resources.write_text(json.dumps(documents))
    assert policy_report.main(["check", str(resources)]) == 1
    # The control plane and the workers' launch template.
    assert capsys.readouterr().out.count("MANDATORY imdsv2-required") == 2


def test_the_pack_entry_point_builds_the_pack_from_its_own_directory() -> None:
    """As the CLI runs it: `runpy.run_path` on policies/ in a fresh interpreter (PolicyPack stubbed, it serves)."""
    script = (
        "import runpy, sys, pulumi_policy\n"
        "def fake(name, policies, description=None, **_):\n"
        "    print(name, len(policies), ' '.join(p.name for p in policies))\n"
        "pulumi_policy.PolicyPack = fake\n"
        "runpy.run_path('.', run_name='__main__')\n"
        "print('shadowing', any(p.endswith('policies') for p in sys.path))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "policies",
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{PACK_NAME} 32 vpc-has-ipv6 ") and "secrets-readable-only-in-kube-system" in first
    assert second == "shadowing False"


def test_the_readme_lists_every_policy_with_its_level() -> None:
    section = (ROOT / "README.md").read_text().split("## Policy pack", 1)[1]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (mandatory|advisory)", section, re.MULTILINE)
    assert rows == [
        (policy.name, policy.enforcement_level.value if policy.enforcement_level else "") for policy in POLICIES
    ]


def test_the_pack_is_self_contained() -> None:
    """The CLI runs the pack in policies/venv: only the standard library, its requirements and itself."""
    requirements = (ROOT / "policies" / "requirements.txt").read_text()
    allowed = {"pulumi", "pulumi_policy", "yaml", "policies"}
    assert all(name in requirements.lower() for name in ("pulumi>=", "pulumi-policy>=", "pyyaml>="))
    for path in sorted((ROOT / "policies").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names} | {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        foreign = {m for m in modules if m.split(".")[0] not in allowed | set(sys.stdlib_module_names)}
        assert foreign == set(), f"{path.name} imports {foreign}"
    pack = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
