"""The HA end-to-end case's judges and its etcd command mapping, on hand-built inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.etcd_cluster import EtcdMember, loopback_etcd_args
from e2e.ha_judge import (
    failover_problems,
    holder_node,
    loopback_script_arguments,
    rejoin_problems,
    stale_removal_problems,
)

NODES = ["ip-10-0-0-10.ec2.internal", "ip-10-0-16-10.ec2.internal", "ip-10-0-32-10.ec2.internal"]


def member(id_: str, name: str, host: str, learner: bool = False) -> dict[str, object]:
    return {"id": id_, "name": name, "peer_urls": [f"https://{host}:2380"], "is_learner": learner}


BEFORE = [
    member("a1", NODES[0], "127.0.0.2"),
    member("b2", NODES[1], "127.0.0.3"),
    member("c3", NODES[2], "127.0.0.4"),
]


def test_holder_node_reads_the_hostname_part_of_the_identity() -> None:
    lease = {"spec": {"holderIdentity": f"{NODES[1]}_0f1e2d3c-aaaa-bbbb-cccc-000000000000"}}
    assert holder_node(lease, NODES) == NODES[1]
    assert holder_node({"spec": {"holderIdentity": "somewhere-else_1234"}}, NODES) is None
    assert holder_node({"spec": {}}, NODES) is None


def test_failover_needs_the_lease_to_leave_the_stopped_node() -> None:
    old, new = f"{NODES[0]}_u1", f"{NODES[2]}_u2"
    assert failover_problems(old, new, NODES[0], NODES) == []
    assert failover_problems(old, old, NODES[0], NODES)
    assert failover_problems(old, f"{NODES[0]}_u3", NODES[0], NODES)
    assert failover_problems(f"{NODES[1]}_u1", new, NODES[0], NODES)


def test_stale_removal_accepts_exactly_the_stale_member_gone() -> None:
    after = [BEFORE[0], BEFORE[2]]
    assert stale_removal_problems(BEFORE, after, NODES[1], "https://127.0.0.3:2380") == []


def test_stale_removal_catches_too_much_too_little_and_nothing_stale() -> None:
    peer = "https://127.0.0.3:2380"
    assert stale_removal_problems(BEFORE, [BEFORE[0]], NODES[1], peer)  # a healthy member removed too
    assert stale_removal_problems(BEFORE, BEFORE, NODES[1], peer)  # nothing removed
    assert stale_removal_problems(BEFORE[::2], BEFORE[::2], NODES[1], peer)  # nothing was stale


def test_stale_removal_counts_an_unstarted_member_at_the_peer_url() -> None:
    unstarted = {"id": "d4", "name": "", "peer_urls": ["https://127.0.0.3:2380"], "is_learner": True}
    before = [BEFORE[0], BEFORE[2], unstarted]
    assert stale_removal_problems(before, [BEFORE[0], BEFORE[2]], NODES[1], "https://127.0.0.3:2380") == []


def test_rejoin_needs_every_member_voting_and_healthy() -> None:
    expected = {
        NODES[0]: "https://127.0.0.2:2380",
        NODES[1]: "https://127.0.0.3:2380",
        NODES[2]: "https://127.0.0.4:2380",
    }
    healthy = [{"endpoint": f"https://127.0.0.{i}:2379", "health": True} for i in (2, 3, 4)]
    rejoined = [BEFORE[0], member("e5", NODES[1], "127.0.0.3"), BEFORE[2]]
    assert rejoin_problems(rejoined, healthy, expected) == []
    assert rejoin_problems([BEFORE[0], member("e5", NODES[1], "127.0.0.3", learner=True), BEFORE[2]], healthy, expected)
    assert rejoin_problems([BEFORE[0], BEFORE[2]], healthy[::2], expected)
    assert rejoin_problems(rejoined, [*healthy[:2], {"endpoint": "x", "health": False}], expected)


BOOT_SCRIPT = """#!/bin/bash
readonly ETCD_MEMBER_HOSTS=10.0.0.10,10.0.32.10
export ETCD_PKI
ETCD_PEER_HOST="${NODE_IPV4}"
"""


def test_script_arguments_follow_the_boot_script_on_loopback() -> None:
    hosts = {"10.0.0.10": "127.0.0.2", "10.0.16.10": "127.0.0.3", "10.0.32.10": "127.0.0.4"}
    arguments = loopback_script_arguments(BOOT_SCRIPT, NODES[1], "10.0.16.10", hosts)
    assert arguments == [NODES[1], "127.0.0.3", "127.0.0.2,127.0.0.4"]
    with pytest.raises(LookupError):
        loopback_script_arguments(BOOT_SCRIPT, NODES[1], "10.0.99.10", hosts)


# What `kubeadm init phase etcd local --dry-run` writes for v1.35.3 (node ip-10-0-0-10, IPv4 10.0.0.10).
KUBEADM_ETCD = [
    "etcd",
    "--advertise-client-urls=https://10.0.0.10:2379",
    "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
    "--data-dir=/var/lib/etcd",
    "--initial-advertise-peer-urls=https://10.0.0.10:2380",
    "--initial-cluster=ip-10-0-0-10.ec2.internal=https://10.0.0.10:2380",
    "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.10:2379",
    "--listen-metrics-urls=http://127.0.0.1:2381",
    "--listen-peer-urls=https://10.0.0.10:2380",
    "--name=ip-10-0-0-10.ec2.internal",
]


def test_etcd_args_move_kubeadms_flags_onto_the_members_loopback_address(tmp_path: Path) -> None:
    node = EtcdMember(NODES[0], "127.0.0.2", "10.0.0.10", tmp_path / "pki", tmp_path / "data", tmp_path / "log")
    args = loopback_etcd_args(KUBEADM_ETCD, node)
    assert f"--cert-file={tmp_path}/pki/etcd/server.crt" in args
    assert f"--data-dir={tmp_path}/data" in args
    assert "--listen-client-urls=https://127.0.0.2:2379" in args
    assert "--listen-metrics-urls=http://127.0.0.2:2381" in args
    assert "--initial-cluster=ip-10-0-0-10.ec2.internal=https://127.0.0.2:2380" in args
    assert "--name=ip-10-0-0-10.ec2.internal" in args
    assert not any("10.0.0.10:" in arg or "initial-cluster-state" in arg for arg in args)
    joined = loopback_etcd_args(KUBEADM_ETCD, node, [("a", "https://127.0.0.3:2380"), (NODES[0], node.peer_url)])
    assert f"--initial-cluster=a=https://127.0.0.3:2380,{NODES[0]}=https://127.0.0.2:2380" in joined
    assert "--initial-cluster-state=existing" in joined
