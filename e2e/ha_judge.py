"""How the HA case is judged: the CCM's leader and its successor from the Lease, the stale etcd
member removed and no other, the cluster back to N healthy voting members, and the boot script's
etcd settings mapped onto the case's loopback addresses.

Pure functions of what the case read back (Lease, `etcdctl member list`/`endpoint health`, the
rendered boot script), so they are tested without the binaries (tests/test_e2e_ha_judge.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

CCM_LEASE = "cloud-controller-manager"
"""k8s.io/cloud-provider's default --leader-elect-resource-name (options.go); namespace kube-system."""


def holder_node(lease: Mapping[str, Any], node_names: Sequence[str]) -> str | None:
    """The node whose CCM holds the lease: the CCM's identity is `<hostname>_<uuid>`
    (k8s.io/cloud-provider app/controllermanager.go) and a hostNetwork pod's hostname is the node's."""
    holder = str(lease.get("spec", {}).get("holderIdentity") or "")
    host = holder.rsplit("_", 1)[0] if "_" in holder else ""
    return host if host in node_names else None


def failover_problems(old_holder: str, new_holder: str, stopped_node: str, node_names: Sequence[str]) -> list[str]:
    """The lease must have moved from the stopped control plane's CCM to another node's."""
    problems = []
    old_node, new_node = (holder_node({"spec": {"holderIdentity": h}}, node_names) for h in (old_holder, new_holder))
    if old_node != stopped_node:
        problems.append(f"the lease holder before the stop {old_holder!r} is not the stopped node {stopped_node}")
    if new_node is None:
        problems.append(f"the lease holder after the stop {new_holder!r} is no control plane's CCM")
    elif new_node == stopped_node or new_holder == old_holder:
        problems.append(f"the lease did not move off {stopped_node}: held by {new_holder!r}")
    return problems


def stale_removal_problems(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]], node_name: str, peer_url: str
) -> list[str]:
    """The script must have removed exactly the members named `node_name` or at `peer_url`, and at
    least one: every other member is left as it was."""
    stale = [m for m in before if m["name"] == node_name or peer_url in m["peer_urls"]]
    kept = [m for m in before if m not in stale]
    problems = []
    if not stale:
        problems.append(f"before the script no member is named {node_name} or at {peer_url}: nothing stale to remove")
    key = {"id", "name", "peer_urls"}
    after_keys = sorted((m["id"], m["name"], tuple(m["peer_urls"])) for m in after)
    kept_keys = sorted((m["id"], m["name"], tuple(m["peer_urls"])) for m in kept)
    if after_keys != kept_keys:
        problems.append(
            f"after the script the members are {[{k: m[k] for k in key} for m in after]}, "
            f"expected {[{k: m[k] for k in key} for m in kept]} (all but {[m['id'] for m in stale]})"
        )
    return problems


def rejoin_problems(
    members: Sequence[Mapping[str, Any]], health: Sequence[Mapping[str, Any]], expected: Mapping[str, str]
) -> list[str]:
    """N voting members named and addressed as `expected` (node name -> peer URL), each endpoint healthy."""
    problems = []
    got = {m["name"]: m["peer_urls"] for m in members}
    if got != {name: [url] for name, url in expected.items()}:
        problems.append(f"members {got} != {dict(expected)}")
    learners = [m["name"] for m in members if m["is_learner"]]
    if learners:
        problems.append(f"members still learners: {learners}")
    if len(health) != len(expected) or not all(answer["health"] for answer in health):
        problems.append(f"endpoint health: {list(health)}")
    return problems


def boot_script_setting(boot_script: str, name: str) -> str:
    """The value of one `NAME="value"` (or `readonly NAME=value`) line of the rendered boot script."""
    match = re.search(rf'^(?:readonly |export )?{name}="?([^"\n]*)"?$', boot_script, re.MULTILINE)
    if match is None:
        raise LookupError(f"the boot script sets no {name}")
    return match.group(1)


def loopback_script_arguments(
    boot_script: str, node_name: str, node_ipv4: str, ipv4_to_host: Mapping[str, str]
) -> list[str]:
    """The script's NODE_NAME PEER_HOST MEMBER_HOSTS as the boot script passes them on that node
    (`ETCD_PEER_HOST`, `ETCD_MEMBER_HOSTS`), each control plane's IPv4 replaced by its loopback host."""
    peer_host = boot_script_setting(boot_script, "ETCD_PEER_HOST").replace("${NODE_IPV4}", node_ipv4)
    member_hosts = boot_script_setting(boot_script, "ETCD_MEMBER_HOSTS").split(",")
    unknown = [host for host in [peer_host, *member_hosts] if host not in ipv4_to_host]
    if unknown:
        raise LookupError(f"the boot script names etcd hosts {unknown} that are no control plane's IPv4")
    return [node_name, ipv4_to_host[peer_host], ",".join(ipv4_to_host[host] for host in member_hosts)]
