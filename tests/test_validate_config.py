"""The validators' checked-in configuration: every checkov skip has a reason, and each reason is
still true of what the program renders (a skip is global in checkov, so a new object that the
reason does not cover must fail here instead of slipping past)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import STACKS, RenderGraph

from components.render.ccm_manifests import DAEMONSET
from components.render.rbac import NAMESPACE
from components.versions import release_for
from tools.manifests import HELM_RELEASE, KUBERNETES_PREFIX, manifest_of
from tools.offline.stackfiles import stack_config
from tools.validate.checkov import CONFIG as CHECKOV_CONFIG
from tools.validate.checkov import skip_reasons
from tools.validate.yamllint import CONFIG as YAMLLINT_CONFIG

EVERY_STACK = pytest.mark.parametrize("stack", STACKS)
WORKLOAD_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob", "Pod")


def _manifests(render_graph: RenderGraph, stack: str) -> list[dict[str, Any]]:
    records = render_graph(stack).resources
    return [
        manifest_of(r) for r in records if r.custom and r.type.startswith(KUBERNETES_PREFIX) and r.type != HELM_RELEASE
    ]


def _pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in WORKLOAD_KINDS and m["kind"] != "Pod"
    }


def test_every_skipped_check_has_a_one_line_reason() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    reasons = skip_reasons()
    assert list(reasons) == config["skip-check"], "each skip is one `- CHECK_ID` line"
    assert len(set(reasons)) == len(reasons)
    for check_id, reason in reasons.items():
        assert len(reason.split()) >= 6, f"{check_id}: reason missing or too thin: {reason!r}"
    assert config["framework"] == ["kubernetes"] and config["skip-download"] is True


def test_yamllint_config_extends_the_default_rules() -> None:
    config = yaml.safe_load(YAMLLINT_CONFIG.read_text())
    assert config["extends"] == "default" and config["rules"]["line-length"]["max"] == 120


@EVERY_STACK
def test_only_the_ccm_uses_the_host_network(render_graph: RenderGraph, stack: str) -> None:  # CKV_K8S_19, CKV2_K8S_6
    pods = _pod_specs(_manifests(render_graph, stack))
    assert {name for name, pod in pods.items() if pod.get("hostNetwork")} == {f"DaemonSet/{DAEMONSET}"}


@EVERY_STACK
def test_only_the_ccm_mounts_a_service_account_token(render_graph: RenderGraph, stack: str) -> None:  # CKV_K8S_38
    for name, pod in _pod_specs(_manifests(render_graph, stack)).items():
        if name != f"DaemonSet/{DAEMONSET}":
            assert pod.get("automountServiceAccountToken") is False, name


@EVERY_STACK
def test_no_role_grants_secrets(render_graph: RenderGraph, stack: str) -> None:
    # Why CKV2_K8S_5 (no service account may read secrets) is not skipped: no CCM release of the
    # matrix reads Secrets. One that does would get a read-only Role in kube-system, and the skip back.
    reads = release_for(stack_config(stack)["k8s-dualstack-aws:kubernetesVersion"]).ccm_reads_secrets
    assert "CKV2_K8S_5" not in skip_reasons() or reads
    for manifest in _manifests(render_graph, stack):
        if manifest["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in manifest.get("rules", []):
            if "secrets" in rule["resources"] or "*" in rule["resources"]:
                assert reads, f"{manifest['kind']} {manifest['metadata']['name']} grants secrets"
                assert manifest["kind"] == "Role" and manifest["metadata"]["namespace"] == NAMESPACE
                assert set(rule["verbs"]) <= {"get", "list", "watch"}


@EVERY_STACK
def test_containers_request_cpu_limit_memory_and_pin_a_tag(render_graph: RenderGraph, stack: str) -> None:
    # CKV_K8S_11 (no CPU limits), CKV_K8S_43 and CKV_K8S_15 (tags, IfNotPresent)
    for name, pod in _pod_specs(_manifests(render_graph, stack)).items():
        for container in pod["containers"]:
            resources = container["resources"]
            assert "cpu" in resources["requests"] and "memory" in resources["limits"], name
            image = container["image"]
            tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest", f"{name}: {image} is not pinned to a tag"


@EVERY_STACK
def test_the_ccm_runs_as_non_root_with_probes(render_graph: RenderGraph, stack: str) -> None:
    pod = _pod_specs(_manifests(render_graph, stack))[f"DaemonSet/{DAEMONSET}"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    (container,) = pod["containers"]
    assert {"readinessProbe", "livenessProbe"} <= container.keys()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
