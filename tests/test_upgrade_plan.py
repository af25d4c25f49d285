"""Version changes previewed on every shipped stack under the mock engine: allowed (and the order of
the upgrade in the captured graph), unchanged, and refused before any resource is registered."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import EVERY_STACK, MODES

from components.release_facts import Version
from components.settings_reader import ConfigError
from components.versions import RELEASES, Release, release_for
from tools.offline.capture import Graph, unwrap_secrets
from tools.offline.engine import partial_graph, run_program_capturing
from tools.offline.stackfiles import stack_config

ASSOCIATION = "aws:ssm/association:Association"
DOCUMENT = "aws:ssm/document:Document"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
GROUP = "aws:autoscaling/group:Group"
INSTANCE = "aws:ec2/instance:Instance"
PARAMETER = "aws:ssm/parameter:Parameter"
VERSION_GATE = "pulumi-python:dynamic:Resource"


def stack_release(stack: str) -> Release:
    return release_for(stack_config(stack)["k8s-dualstack-aws:kubernetesVersion"])


def previous(release: Release) -> str:
    """A version the stack may upgrade from: the row one minor below, else an older patch."""
    below = [row for row in RELEASES if row.version.minor == release.version.minor - 1]
    if below:
        return below[0].kubernetes_version
    return str(Version(release.version.major, release.version.minor, release.version.patch - 1))


def render(stack: str, deployed: str | None, preview: bool = True) -> tuple[Graph, BaseException | None]:
    return run_program_capturing(stack, preview=preview, deployed_version=deployed)


def waits_for(graph: Graph, resource: str, other: str) -> bool:
    """`depends_on`, or through the resource's provider: the engine creates nothing with a provider
    that is not configured yet, and the Kubernetes provider depends on the gates."""
    record = graph.get(resource)
    via_provider = record.provider_urn is not None and graph.depends_on(record.provider_urn, other)
    return graph.depends_on(resource, other) or via_provider


def upgrade_steps(graph: Graph) -> list[str]:
    """The associations' URNs in the order their names give (control plane 0, 1, 2)."""
    found = graph.by_type(ASSOCIATION)
    return [a.urn for a in sorted(found, key=lambda a: a.inputs["associationName"])]


@EVERY_STACK
@MODES
def test_an_upgrade_runs_control_planes_then_the_ccm_then_the_workers(stack: str, preview: bool) -> None:
    release = stack_release(stack)
    graph, error = render(stack, previous(release), preview)
    assert error is None, error
    steps = upgrade_steps(graph)
    instances = graph.by_type(INSTANCE)
    assert len(steps) == len(instances) >= 1
    modes = [graph.get(urn).inputs["parameters"]["mode"] for urn in steps]
    assert modes == ["apply"] + ["node"] * (len(steps) - 1)
    for before, after in itertools.pairwise(steps):
        assert graph.depends_on(after, before), "one control plane at a time, in order"
    (document,) = graph.by_type(DOCUMENT)
    content = json.loads(document.inputs["content"])
    script = "\n".join(content["mainSteps"][0]["inputs"]["runCommand"])
    assert f"readonly TARGET=v{release.kubernetes_version}\n" in script
    assert f"/release/v{release.kubernetes_version}/bin/linux/" in script
    for urn in steps:
        association = graph.get(urn)
        assert association.inputs["name"] == document.inputs["name"] or preview
        assert association.inputs["waitForSuccessTimeoutSeconds"] > 0, "pulumi waits for each run"
    last = steps[-1]
    ccm = next(d for d in graph.by_type(DAEMONSET) if "cloud-controller-manager" in d.name)
    gate = next(r for r in graph.by_type(VERSION_GATE) if r.name.endswith("-api-version"))
    assert gate.inputs["expectedVersion"] == f"v{release.kubernetes_version}"
    assert graph.depends_on(gate, last), "the version gate waits for the last control plane"
    assert waits_for(graph, ccm.urn, gate.urn), "the CCM of the new release only once the API server reports it"
    assert waits_for(graph, ccm.urn, last)
    (group,) = graph.by_type(GROUP)
    assert graph.depends_on(group, ccm), "the workers roll only after the CCM"
    record = next(p for p in graph.by_type(PARAMETER) if p.inputs["name"].endswith("/state/kubernetes-version"))
    assert unwrap_secrets(record.inputs["value"]) == release.kubernetes_version
    assert graph.depends_on(record, group) and graph.depends_on(record, ccm) and graph.depends_on(record, last)
    for instance in instances:
        assert not instance.inputs.get("userDataReplaceOnChange", False), "upgraded in place, not replaced"


@EVERY_STACK
@pytest.mark.parametrize("deployed", ["none", "same"])
def test_no_upgrade_resources_without_a_version_change(stack: str, deployed: str) -> None:
    release = stack_release(stack)
    graph, error = render(stack, None if deployed == "none" else release.kubernetes_version)
    assert error is None, error
    assert graph.by_type(ASSOCIATION) == [] and graph.by_type(DOCUMENT) == []
    ccm = next(d for d in graph.by_type(DAEMONSET) if "cloud-controller-manager" in d.name)
    (group,) = graph.by_type(GROUP)
    assert not graph.depends_on(group, ccm), "a new stack's workers boot beside the control planes"


def _refusal(stack: str, deployed: str) -> str:
    graph, error = render(stack, deployed)
    assert isinstance(error, ConfigError), error
    registered = partial_graph(error) or graph
    assert [r.type for r in registered.resources if not r.type.startswith("pulumi:")] == [], (
        "refused before any resource is registered"
    )
    (problem,) = error.problems
    assert problem.key == "kubernetesVersion"
    return str(error)


@EVERY_STACK
def test_a_skip_is_refused_with_the_path(stack: str) -> None:
    release = stack_release(stack)
    two_below = [row for row in RELEASES if row.version.minor == release.version.minor - 2]
    if not two_below:
        pytest.skip(f"{stack}: no release two minors below {release.minor} in the matrix")
    message = _refusal(stack, two_below[0].kubernetes_version)
    one_below = previous(release)
    assert f"{two_below[0].kubernetes_version} -> {one_below} -> {release.kubernetes_version}" in message


@EVERY_STACK
def test_a_downgrade_is_refused(stack: str) -> None:
    release = stack_release(stack)
    newer = str(Version(release.version.major, release.version.minor + 1, 0))
    message = _refusal(stack, newer)
    assert f"{newer} -> {release.kubernetes_version} is a downgrade" in message


@EVERY_STACK
def test_the_override_rebuilds_instead_of_refusing(stack: str) -> None:
    release = stack_release(stack)
    newer = str(Version(release.version.major, release.version.minor + 1, 0))
    graph, error = run_program_capturing(
        stack, preview=True, deployed_version=newer, overrides={"allowVersionRebuild": True}
    )
    assert error is None, error
    assert graph.by_type(ASSOCIATION) == []
    assert all(i.inputs.get("userDataReplaceOnChange") is True for i in graph.by_type(INSTANCE)), (
        "a rebuild replaces the control planes"
    )
