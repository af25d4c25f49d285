"""The version rules, table-driven: what a change from the deployed version to the stack's is, and the
version skew policy for the CCM and the kubelet (docs/reference/version-skew.md)."""

from __future__ import annotations

import pytest

from components.release_facts import Version
from components.settings_reader import ConfigError
from components.version_skew import (
    ChangeKind,
    ccm_skew_problem,
    kubelet_skew_problem,
    plan_version_change,
    upgrade_path,
)
from components.versions import release_for

V = Version.parse


@pytest.mark.parametrize(
    ("deployed", "target", "kind"),
    [
        (None, "1.22", ChangeKind.NEW),
        ("1.22.17", "1.22", ChangeKind.UNCHANGED),
        ("1.22.15", "1.22", ChangeKind.PATCH),
        ("1.22.17", "1.23", ChangeKind.MINOR),
        ("1.34.2", "1.35", ChangeKind.MINOR),
        ("1.30.14", "1.31", ChangeKind.MINOR),
    ],
)
def test_allowed_changes(deployed: str | None, target: str, kind: ChangeKind) -> None:
    change = plan_version_change(V(deployed) if deployed else None, release_for(target), rebuild_allowed=False)
    assert change.kind is kind
    assert change.upgrades_in_place is (kind in (ChangeKind.PATCH, ChangeKind.MINOR))


@pytest.mark.parametrize(
    ("deployed", "target", "says"),
    [
        # The issue's own examples, and pairs it does not name.
        ("1.22.17", "1.24", ["1.22.17 -> 1.24.17 skips a minor", "1.22.17 -> 1.23.17 -> 1.24.17"]),
        ("1.22.17", "1.35", ["skips a minor", "1.22.17 -> 1.23.17 -> 1.24.17 -> 1.25.16", "-> 1.34.6 -> 1.35.3"]),
        ("1.29.3", "1.31", ["1.29.3 -> 1.30.14 -> 1.31.14"]),
        ("1.23.17", "1.22", ["1.23.17 -> 1.22.17 is a downgrade", "set kubernetesVersion back to 1.23"]),
        ("1.35.9", "1.35", ["1.35.9 -> 1.35.3 is a downgrade"]),
    ],
)
def test_refused_changes_name_both_versions_and_the_way_forward(deployed: str, target: str, says: list[str]) -> None:
    with pytest.raises(ConfigError) as refused:
        plan_version_change(V(deployed), release_for(target), rebuild_allowed=False)
    (problem,) = refused.value.problems
    assert problem.full_key == "k8s-dualstack-aws:kubernetesVersion"
    assert problem.value == release_for(target).kubernetes_version
    message = str(refused.value)
    for expected in [*says, "allowVersionRebuild: true"]:
        assert expected in message, message


@pytest.mark.parametrize(("deployed", "target"), [("1.22.17", "1.24"), ("1.23.17", "1.22")])
def test_the_override_turns_a_refusal_into_a_rebuild(deployed: str, target: str) -> None:
    change = plan_version_change(V(deployed), release_for(target), rebuild_allowed=True)
    assert change.kind is ChangeKind.REBUILD and change.rebuilds and not change.upgrades_in_place


def test_the_override_does_not_turn_an_upgrade_into_a_rebuild() -> None:
    change = plan_version_change(V("1.22.17"), release_for("1.23"), rebuild_allowed=True)
    assert change.kind is ChangeKind.MINOR


def test_every_minor_step_of_a_path_is_a_row_of_the_matrix() -> None:
    path = upgrade_path(V("1.21.14"), V("1.35.3"))
    minors = [V(step).minor for step in path]
    assert minors == list(range(21, 36))
    assert all(release_for(step) for step in path[1:])


@pytest.mark.parametrize(
    ("api_server", "ccm", "problem"),
    [
        ("1.35.3", "1.35.3", None),
        ("1.35.3", "1.34.5", None),  # one minor older: allowed while the CCM follows an upgrade
        ("1.34.6", "1.35.3", "newer than the API server"),  # the e2e negative control
        ("1.35.3", "1.33.0", "more than one minor older"),
        ("1.22.17", "1.23.17", "newer than the API server"),
        ("1.22.17", "1.22.8", None),
    ],
)
def test_ccm_skew(api_server: str, ccm: str, problem: str | None) -> None:
    found = ccm_skew_problem(V(api_server), V(ccm))
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("control_plane", "kubelet", "problem"),
    [
        ("1.23.17", "1.23.17", None),
        ("1.23.17", "1.22.17", None),
        ("1.22.17", "1.23.17", "newer than the control plane"),
        ("1.27.16", "1.24.17", "more than 2 minors older"),  # before 1.28: n-2
        ("1.28.15", "1.25.16", None),  # from 1.28: n-3
        ("1.28.15", "1.24.17", "more than 3 minors older"),
    ],
)
def test_kubelet_skew(control_plane: str, kubelet: str, problem: str | None) -> None:
    found = kubelet_skew_problem(V(control_plane), V(kubelet))
    assert (found is None) if problem is None else (found is not None and problem in found)
