"""The upgrade case's pure logic (e2e/upgrade_judge.py, e2e/upgrade_env.py, e2e/upgrade_steps.py):
the CCM start gate, the refusal checks, the node comparison and the objects applied over a release.
The case itself needs the real binaries: `python -m e2e.upgrade`."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from components.render.ccm_manifests import UNINITIALIZED_TAINT
from e2e.cluster import ControlPlaneConfig
from e2e.upgrade import settings_refusal
from e2e.upgrade_env import upgraded_config
from e2e.upgrade_judge import (
    ccm_start_refusal,
    check,
    content_differs,
    forbidden_lines,
    klog_time,
    node_state,
    overall,
    refusal_problems,
    removed_objects,
    split_by_window,
    successfully_initialised,
    unchanged_problems,
    version_in,
)
from e2e.upgrade_steps import CcmGate


def _node(provider_id: str | None, addresses: list[tuple[str, str]], tainted: bool = False) -> dict[str, Any]:
    taints = [{"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}] if tainted else []
    return {
        "metadata": {"name": "n"},
        "spec": {"providerID": provider_id, "taints": taints},
        "status": {"addresses": [{"type": kind, "address": address} for kind, address in addresses]},
    }


INITIALISED = _node(
    "aws:///us-east-1a/i-0123", [("InternalIP", "2600:1f18::10"), ("InternalIP", "10.0.0.10"), ("Hostname", "n")]
)


@pytest.mark.parametrize(
    ("api_server", "ccm", "refused"),
    [
        ("1.34.5", "1.35.3", True),  # the CCM newer than the API server: the negative control
        ("1.35.3", "1.35.3", False),
        ("1.35.3", "1.34.3", False),  # one minor older: CCM N on the API server of N+1, mid-upgrade
        ("1.35.3", "1.33.4", True),  # two minors older
        ("1.35.0", "1.35.9", False),  # a newer patch of the same minor is no skew
    ],
)
def test_ccm_start_gate_is_the_version_skew_rule(api_server: str, ccm: str, refused: bool) -> None:
    refusal = ccm_start_refusal(api_server, ccm)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert api_server in refusal and ccm in refusal


def test_the_gate_records_every_decision() -> None:
    gate = CcmGate()
    assert gate.decide("N", "1.34.5", "1.34.3") is None
    assert gate.decide("N+1 on N", "1.34.5", "1.35.3") is not None
    assert [d["allowed"] for d in gate.decisions] == [True, False]
    assert gate.decisions[1]["refusal"] and gate.decisions[0]["refusal"] is None


def test_version_in_reads_the_version_a_binary_prints() -> None:
    assert version_in("Kubernetes v1.35.3") == "1.35.3"
    assert version_in("v1.34.3") == "1.34.3"
    assert version_in("Kubernetes v0.0.0-master+$Format:%H$") == "0.0.0"
    assert version_in("unknown") is None


def test_a_refusal_must_name_every_item() -> None:
    assert refusal_problems(None, ["1.34.5"]) == ["not refused"]
    assert refusal_problems("the CCM 1.35.3 is newer than the API server 1.34.5", ["1.34.5", "1.35.3"]) == []
    problems = refusal_problems("the CCM is newer than the API server 1.34.5", ["1.34.5", "1.35.3"])
    assert len(problems) == 1 and "'1.35.3'" in problems[0]


def test_forbidden_lines_are_whole_words_in_any_case() -> None:
    log = "\n".join(
        [
            'E0101 nodes "a" is forbidden: User "system:serviceaccount:kube-system:x" cannot patch',
            "W0101 Forbidden (403)",
            "I0101 Successfully initialized node a",
            "I0101 forbiddenness is not a word the API server logs",
        ]
    )
    assert len(forbidden_lines(log)) == 2


def test_klog_time_reads_the_line_prefix() -> None:
    line = 'E1129 19:40:24.605710   25829 reflector.go:205] "Failed to watch" err="nodes is forbidden"'
    assert klog_time(line, 2025) == datetime.datetime(2025, 11, 29, 19, 40, 24, 605710)
    assert klog_time("nodes is forbidden", 2025) is None


def test_only_lines_inside_the_restart_window_are_set_apart() -> None:
    lines = [
        "E1129 19:40:20.000000 1 a.go:1] before: forbidden",
        "E1129 19:40:24.605710 1 a.go:1] during: forbidden",
        "E1129 19:40:30.000001 1 a.go:1] after: forbidden",
        "forbidden without a time",
    ]
    start = datetime.datetime(2025, 11, 29, 19, 40, 23)
    end = datetime.datetime(2025, 11, 29, 19, 40, 30)
    inside, outside = split_by_window(lines, start, end, 2025)
    assert inside == [lines[1]]
    assert outside == [lines[0], lines[2], lines[3]]


def test_node_state_reads_what_the_ccm_sets() -> None:
    state = node_state(_node(None, [], tainted=True))
    assert state == {"providerID": None, "addresses": [], "uninitialised": True}
    assert node_state(INITIALISED)["addresses"][0] == ["InternalIP", "2600:1f18::10"]


def test_unchanged_nodes_pass() -> None:
    before = {"n": node_state(INITIALISED)}
    assert unchanged_problems(before, copy.deepcopy(before)) == []


def test_a_hostname_added_by_the_new_ccm_is_no_change() -> None:
    after = _node("aws:///us-east-1a/i-0123", [("InternalIP", "2600:1f18::10"), ("InternalIP", "10.0.0.10")])
    after["status"]["addresses"].append({"type": "InternalDNS", "address": "ip-10-0-0-10.ec2.internal"})
    assert unchanged_problems({"n": node_state(INITIALISED)}, {"n": node_state(after)}) == []


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (
            _node("aws:///us-east-1b/i-0123", [("InternalIP", "2600:1f18::10"), ("InternalIP", "10.0.0.10")]),
            "providerID",
        ),
        (
            _node("aws:///us-east-1a/i-0123", [("InternalIP", "10.0.0.10"), ("InternalIP", "2600:1f18::10")]),
            "InternalIPs",
        ),
        (_node("aws:///us-east-1a/i-0123", [("InternalIP", "10.0.0.10")]), "InternalIPs"),
        (
            _node("aws:///us-east-1a/i-0123", [("InternalIP", "2600:1f18::10"), ("InternalIP", "10.0.0.10")], True),
            "tainted",
        ),
    ],
)
def test_a_changed_node_is_a_problem(after: dict[str, Any], expected: str) -> None:
    problems = unchanged_problems({"n": node_state(INITIALISED)}, {"n": node_state(after)})
    assert len(problems) == 1 and expected in problems[0]


def test_a_node_gone_or_none_before_is_a_problem() -> None:
    assert unchanged_problems({"n": node_state(INITIALISED)}, {}) == ["n: gone after the upgrade"]
    assert unchanged_problems({}, {}) == ["no node was initialised before the upgrade"]
    uninitialised = {"n": node_state(_node(None, [], tainted=True))}
    assert any("no InternalIP" in p for p in unchanged_problems(uninitialised, uninitialised))


def _role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": metadata, "rules": rules}


def test_objects_the_new_release_drops_are_deleted() -> None:
    old = [_role("a", []), _role("b", []), {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}]
    new = [_role("a", []), {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}]
    assert removed_objects(old, new) == [("ClusterRole", "", "b")]
    assert removed_objects(new, old) == []


def test_content_differs_ignores_server_fields_but_not_the_programs() -> None:
    rules = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    wanted = _role("a", rules, {"app": "ccm"})
    live = copy.deepcopy(wanted)
    live["metadata"] |= {"resourceVersion": "7", "uid": "u", "labels": {"app": "ccm", "server": "added"}}
    assert not content_differs(wanted, live)
    changed = copy.deepcopy(live)
    changed["rules"][0]["verbs"].append("patch")
    assert content_differs(wanted, changed)
    relabelled = copy.deepcopy(live)
    relabelled["metadata"]["labels"]["app"] = "other"
    assert content_differs(wanted, relabelled)


def test_a_secrets_string_data_is_compared_with_the_servers_encoded_data() -> None:
    wanted = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"ca.crt": "PEM"}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"ca.crt": "UEVN"}}
    assert not content_differs(wanted, live)
    assert content_differs(wanted, {**live, "data": {"ca.crt": "T1RIRVI="}})
    assert content_differs(wanted, {**live, "data": {"ca.crt": "UEVN", "extra": "eA=="}})


def test_the_upgrade_regenerates_from_the_stored_configuration_at_the_new_version() -> None:
    documents = [
        {"kind": "InitConfiguration", "nodeRegistration": {"name": "x"}},
        {"kind": "ClusterConfiguration", "kubernetesVersion": "v1.34.6", "networking": {"podSubnet": "p"}},
    ]
    old = ControlPlaneConfig(documents=documents, node_ip_expression="${NODE_IPV6}")
    new = upgraded_config(old, "1.35.3")
    assert new.documents[1] == {
        "kind": "ClusterConfiguration",
        "kubernetesVersion": "v1.35.3",
        "networking": {"podSubnet": "p"},
    }
    assert new.documents[0] == documents[0] and new.node_ip_expression == "${NODE_IPV6}"
    assert documents[1]["kubernetesVersion"] == "v1.34.6"  # the input is not changed
    with pytest.raises(LookupError):
        upgraded_config(ControlPlaneConfig(documents=documents[:1], node_ip_expression=None), "1.35.3")


def test_the_settings_parser_refuses_the_next_ccm_on_the_older_stack() -> None:
    message = settings_refusal("k8s-1-35", "1.34", "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.2")
    assert message is not None
    assert "ccmImage" in message and "1.34.6" in message and "1.35.2" in message
    assert settings_refusal("k8s-1-35", "1.34", "registry.k8s.io/provider-aws/cloud-controller-manager:v1.34.3") is None


def test_successfully_initialised_names_the_node() -> None:
    log = 'I0101 node_controller.go:1] "Successfully initialized node" node="ip-10-0-0-5.ec2.internal"'
    assert successfully_initialised(log, "ip-10-0-0-5.ec2.internal")
    assert not successfully_initialised(log, "ip-10-0-0-6.ec2.internal")


def test_overall_needs_a_check_and_every_check_passed() -> None:
    assert not overall([])
    assert overall([check("a", [])])
    assert not overall([check("a", []), check("b", ["broken"])])
