"""The pure part of the AWS integration tier's in-place upgrade run (tests/integration/upgrade_checks.py):
the versions it picks, the refusal it expects (held against the program's own rule), and the checks
after the upgrade on Node, DaemonSet, `/version` and instance-refresh objects. The run's order, with
fakes: tests/test_integration_upgrade.py, which shares the node builder below.

The nodes are the ones `make e2e` recorded (tests/integration/samples), with the kubelet version and the
instances a real upgrade would leave: the control plane (`ip-10-0-0-10`, the `.10` of its zone) keeps
its instance, the two workers come back as new instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from integration.harness import Check
from integration.upgrade import CCM_DAEMONSET
from integration.upgrade_checks import (
    Fleet,
    RefusalProbe,
    UpgradePair,
    api_version_check,
    ccm_checks,
    refresh_check,
    refusal_checks,
    refusal_probe,
    skip_reason,
    upgrade_pair,
    upgraded_node_checks,
    wait_until_final,
)
from test_integration_harness import ready, sample

from components.settings_reader import ConfigError
from components.version_skew import plan_version_change
from components.versions import RELEASES, release_for

PAIR = UpgradePair(release_for("1.34"), release_for("1.35"))
SOURCE, TARGET = PAIR.source.kubernetes_version, PAIR.target.kubernetes_version
CONTROL_PLANE, CONTROL_PLANE_ID = "ip-10-0-0-10.ec2.internal", "i-c89fb204729bf79fd"
OLD_WORKERS = {"ip-10-0-0-4.ec2.internal": "i-f36c3018d3e278914", "ip-10-0-16-4.ec2.internal": "i-dc625e63d28e41410"}
NEW_WORKERS = {"ip-10-0-0-4.ec2.internal": "i-0a1b2c3d4e5f60718", "ip-10-0-16-4.ec2.internal": "i-0f1e2d3c4b5a69788"}
LABEL = "node-role.kubernetes.io/control-plane"
UPGRADE_STARTED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def cluster_nodes(version: str, workers: Mapping[str, str], control_plane_id: str = CONTROL_PLANE_ID) -> dict[str, Any]:
    """The recorded nodes, Ready, at `version`, behind the given instances."""
    nodes = ready(sample("nodes-e2e-1.35.json"))
    for node in nodes["items"]:
        name = node["metadata"]["name"]
        zone, _ = node["spec"]["providerID"].removeprefix("aws:///").split("/")
        instance = control_plane_id if name == CONTROL_PLANE else workers[name]
        node["spec"]["providerID"] = f"aws:///{zone}/{instance}"
        node["status"]["nodeInfo"]["kubeletVersion"] = f"v{version}"
        if name == CONTROL_PLANE:
            node["metadata"]["labels"][LABEL] = ""
    return nodes


def daemonset(image: str, updated: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": CCM_DAEMONSET, "generation": 2},
        "spec": {"template": {"spec": {"containers": [{"name": "ccm", "image": image}]}}},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 1,
            "updatedNumberScheduled": updated,
            "numberAvailable": 1,
        },
    }


# -- versions, the opt-in, the refusal ----------------------------------------------------------


def test_the_run_upgrades_from_the_minor_below_the_newest_row_unless_told() -> None:
    pair = upgrade_pair({})
    assert (pair.source, pair.target) == (RELEASES[-2], RELEASES[-1])
    assert pair.target.minor == "1.35" and pair.source.minor == "1.34"
    chosen = upgrade_pair({"INTEGRATION_UPGRADE_FROM": "1.22"})
    assert (chosen.source.kubernetes_version, chosen.target.kubernetes_version) == ("1.22.17", "1.23.17")
    with pytest.raises(ValueError, match="no row one minor above"):
        upgrade_pair({"INTEGRATION_UPGRADE_FROM": RELEASES[-1].minor})
    with pytest.raises(ValueError, match="not a minor of the release matrix"):
        upgrade_pair({"INTEGRATION_UPGRADE_FROM": "1.9"})


def test_the_upgrade_run_is_asked_for_then_needs_what_every_run_needs() -> None:
    not_asked = skip_reason({}, [])
    assert not_asked is not None and "make integration UPGRADE=1" in not_asked
    assert skip_reason({"INTEGRATION_UPGRADE": "0"}, []) == not_asked
    missing = skip_reason({"INTEGRATION_UPGRADE": "1"}, ["kubectl (not on PATH)"])
    assert missing == "in-place upgrade run on AWS needs kubectl (not on PATH)"
    assert skip_reason({"INTEGRATION_UPGRADE": "1"}, []) is None


def test_the_refusal_probe_expects_the_readmes_messages() -> None:
    # README, "Upgrading a stack": a skip lists the path one minor at a time; a downgrade says where back to.
    skip = refusal_probe(release_for("1.22"))
    assert skip == RefusalProbe("1.24", ("1.22.17 -> 1.24.17 skips a minor", "1.22.17 -> 1.23.17 -> 1.24.17"))
    newest = refusal_probe(PAIR.target)  # nothing two minors above the newest row: a downgrade
    assert newest.minor == "1.33"
    assert newest.expected == (f"{TARGET} -> {release_for('1.33').kubernetes_version} is a downgrade", "back to 1.35")


@pytest.mark.parametrize("deployed", [release.minor for release in RELEASES])
def test_the_program_refuses_every_probe_as_expected(deployed: str) -> None:
    """What the program raises for the probe's version, given the deployed row, says what the run expects."""
    row = release_for(deployed)
    probe = refusal_probe(row)
    with pytest.raises(ConfigError) as refused:
        plan_version_change(row.version, release_for(probe.minor), rebuild_allowed=False)
    checks = refusal_checks(probe, True, f"preview failed\n{refused.value}\n")
    assert all(check.ok for check in checks), checks


def test_refusal_checks_fail_on_a_preview_that_passes_or_a_message_without_the_path() -> None:
    probe = refusal_probe(release_for("1.22"))
    passed = refusal_checks(probe, False, "Previewing update (integration-test)\n  + 60 to create\n")
    assert [check.ok for check in passed] == [False, False, False]
    other = refusal_checks(probe, True, "error: 1.22.17 -> 1.24.17 skips a minor; ask an administrator")
    assert [check.ok for check in other] == [True, True, False]
    assert other[2].detail == "not in the preview output"


# -- the checks after the upgrade ---------------------------------------------------------------


def test_node_checks_pass_on_an_upgrade_and_name_what_went_wrong() -> None:
    before = Fleet(frozenset({CONTROL_PLANE_ID}), frozenset(OLD_WORKERS.values()))
    good = upgraded_node_checks(cluster_nodes(TARGET, NEW_WORKERS), TARGET, before, [LABEL], 3)
    assert len(good) == 6 and all(check.ok for check in good), [c for c in good if not c.ok]
    behind = cluster_nodes(TARGET, NEW_WORKERS)
    behind["items"][2]["status"]["nodeInfo"]["kubeletVersion"] = f"v{SOURCE}"
    failed = [c for c in upgraded_node_checks(behind, TARGET, before, [LABEL], 3) if not c.ok]
    assert [(c.name, c.detail) for c in failed] == [(f"ip-10-0-16-4.ec2.internal: kubelet v{TARGET}", f"v{SOURCE}")]
    replaced = cluster_nodes(TARGET, NEW_WORKERS, control_plane_id="i-0123456789abcdef0")
    names = [c.name for c in upgraded_node_checks(replaced, TARGET, before, [LABEL], 3) if not c.ok]
    assert names == ["control planes upgraded in place (the same instances)"]
    one_kept = cluster_nodes(
        TARGET, {**NEW_WORKERS, "ip-10-0-0-4.ec2.internal": OLD_WORKERS["ip-10-0-0-4.ec2.internal"]}
    )
    names = [c.name for c in upgraded_node_checks(one_kept, TARGET, before, [LABEL], 3) if not c.ok]
    assert names == ["workers replaced by the instance refresh (all new instances)"]
    assert not upgraded_node_checks(cluster_nodes(TARGET, NEW_WORKERS), TARGET, before, [LABEL], 4)[0].ok


def test_version_ccm_and_refresh_checks() -> None:
    assert api_version_check({"serverVersion": {"gitVersion": f"v{TARGET}"}}, TARGET).ok
    assert not api_version_check({"serverVersion": {"gitVersion": f"v{SOURCE}"}}, TARGET).ok
    assert not api_version_check({"clientVersion": {"gitVersion": f"v{TARGET}"}}, TARGET).ok
    image = PAIR.target.ccm_image
    assert [c.ok for c in ccm_checks(daemonset(image), image)] == [True, True]
    assert [c.ok for c in ccm_checks(daemonset(PAIR.source.ccm_image), image)] == [False, True]
    assert [c.ok for c in ccm_checks(daemonset(image, updated=0), image)] == [True, False]
    done = {"Status": "Successful", "StartTime": UPGRADE_STARTED + timedelta(minutes=9), "PercentageComplete": 100}
    assert refresh_check(done, UPGRADE_STARTED)[0].ok and refresh_check(done, UPGRADE_STARTED)[1]
    running = {**done, "Status": "InProgress", "PercentageComplete": 50}
    assert (
        refresh_check(running, UPGRADE_STARTED)[0].ok is False and refresh_check(running, UPGRADE_STARTED)[1] is False
    )
    failed = {**done, "Status": "Failed", "StatusReason": "instance failed to become healthy"}
    check, final = refresh_check(failed, UPGRADE_STARTED)
    assert not check.ok and final and "failed to become healthy" in check.detail
    older = {**done, "StartTime": UPGRADE_STARTED - timedelta(days=1)}
    assert refresh_check(older, UPGRADE_STARTED)[0].detail.startswith("none since the upgrade began")
    assert refresh_check(None, UPGRADE_STARTED)[0].detail == "no instance refresh"


def test_waiting_for_a_final_answer_stops_early_or_at_the_bound() -> None:
    ticks = iter(range(1000))
    answers = iter([(Check("r", False, "Pending"), False), (Check("r", False, "Failed"), True)])
    slept: list[float] = []
    found = wait_until_final(
        lambda: next(answers), wait_seconds=100, poll_seconds=7, sleep=slept.append, clock=lambda: next(ticks)
    )
    assert found.detail == "Failed" and slept == [7], "a failed refresh ends the wait at once"
    slept.clear()
    found = wait_until_final(
        lambda: (Check("r", False, "InProgress"), False),
        wait_seconds=3,
        poll_seconds=1,
        sleep=slept.append,
        clock=lambda: next(ticks),
    )
    assert found.detail == "InProgress" and slept == [1, 1], "one tick per look: the third reaches the bound"
