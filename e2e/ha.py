"""The HA case: the `prod` stack's three control planes on loopback, with the real binaries.

    python -m e2e.run --case ha-3-control-planes-1.35     (part of `make e2e`)

From the program's captured graph of the HA stack (mock engine, moto seeded from it as for the other
cases): three stacked etcd members forming one TLS cluster with the program's etcd CA, three
kube-apiservers with kubeadm's flags each on its own member, and the real AWS CCM three times with
the DaemonSet's arguments (`--leader-elect=true`), one per control plane (e2e/ha_plane.py). Then

1. every Node (control planes and the Auto Scaling group's workers) is initialised, read back
   from an API server;
2. the CCM holding the `kube-system/cloud-controller-manager` Lease is stopped with its node's API
   server; the Lease moves to another CCM, and a worker the Auto Scaling group launches afterwards
   (moto scales the group out) is initialised by the new leader;
3. that control plane is replaced: its etcd stopped and its data wiped, then the stale-member
   script exactly as the program renders it into that node's user data runs with the real
   etcdctl against the two others (the arguments its boot script passes, mapped onto loopback);
   it must remove exactly the stale member. kubeadm join's etcd steps (e2e/etcd_cluster.py) bring a
   fresh member back, and the cluster has three healthy voting members again; the node's API
   server then serves again.

Judged by code (e2e/ha_judge.py); the report holds the nodes, the lease holders, the member lists
and endpoint health before and after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from components.render import node_tools, scripts
from e2e.cases import Case
from e2e.cluster import _user_data
from e2e.environment import DUMMY_CREDENTIALS, Environment, Instance, prepare, seed_instance
from e2e.etcd_cluster import EtcdCluster, write_etcd_pki
from e2e.ha_judge import (
    CCM_LEASE,
    failover_problems,
    holder_node,
    loopback_script_arguments,
    rejoin_problems,
    stale_removal_problems,
)
from e2e.ha_plane import (
    HaNode,
    etcdctl_for,
    prepare_nodes,
    start_api_server,
    start_ccm,
    start_etcd_cluster,
    stop_nodes,
)
from e2e.imds import MetadataServer
from e2e.judge import check_positive, is_initialised
from e2e.kube import Kube
from e2e.objects import _node_ip, apply_ccm_objects, apply_manifests, node_manifest, register_nodes
from e2e.procs import Process, wait_for
from e2e.services import call_problems
from tools.iam_check.runner import SimulatorSession

LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{CCM_LEASE}"
# The API endpoint NLB of the HA topology: the CCM never touches it; the replay may not make it yet.
TOLERATED_SKIPS = ("aws:lb/",)


def ha_case(minor: str) -> Case:
    return Case(
        name=f"ha-3-control-planes-{minor}",
        expect="pass",
        description="the prod stack's three control planes: three etcd members (TLS, the program's etcd CA), "
        "three kube-apiservers, the CCM on each with leader election; nodes initialised; the leading CCM and "
        "its API server stopped, a new worker initialised by the new leader; the rendered stale-member "
        "script against the real etcd, the member rejoined, three healthy members",
    )


def _user_data_file(env: Environment, instance: Instance, path: str) -> str:
    cloud_config = yaml.safe_load(_user_data(env.graph, instance.program_name))
    for entry in cloud_config.get("write_files", []):
        if entry["path"] == path:
            return str(entry["content"])
    raise LookupError(f"{instance.program_name}: no {path} in its user data")


def _initialised(admin: Kube, names: list[str]) -> bool | None:
    nodes = {node["metadata"]["name"]: node for node in admin.get("/api/v1/nodes")["items"]}
    return True if all(name in nodes and is_initialised(nodes[name]) for name in names) else None


def _scale_out(env: Environment) -> Instance:
    """One more worker: the Auto Scaling group's desired capacity raised by one, the instance moto
    launches addressed as EC2 would (e2e/environment.seed_instance)."""
    auto_scaling = boto3.client(
        "autoscaling",
        region_name=env.region,
        endpoint_url=env.moto_url,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    known = {instance.instance_id for instance in env.instances}
    groups = auto_scaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    group = next(g for g in groups if {i["InstanceId"] for i in g["Instances"]} & known)
    auto_scaling.set_desired_capacity(
        AutoScalingGroupName=group["AutoScalingGroupName"], DesiredCapacity=group["DesiredCapacity"] + 1
    )
    described = auto_scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group["AutoScalingGroupName"]])
    new = [i["InstanceId"] for i in described["AutoScalingGroups"][0]["Instances"] if i["InstanceId"] not in known]
    if len(new) != 1:
        raise RuntimeError(f"scaling {group['AutoScalingGroupName']} out by one launched {new}")
    # moto gap (as in tools/aws_replay_compute.py): the launch template's Ipv6AddressCount is not applied.
    ec2 = boto3.client(
        "ec2",
        region_name=env.region,
        endpoint_url=env.moto_url,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    described_instance = ec2.describe_instances(InstanceIds=new)["Reservations"][0]["Instances"][0]
    interface = sorted(described_instance["NetworkInterfaces"], key=lambda eni: eni["Attachment"]["DeviceIndex"])[0]
    if not interface.get("Ipv6Addresses"):
        ec2.assign_ipv6_addresses(NetworkInterfaceId=interface["NetworkInterfaceId"], Ipv6AddressCount=1)
    return seed_instance(env.moto_url, env.region, f"{group['AutoScalingGroupName']}-new", new[0])


def _run_script(env: Environment, node: HaNode, arguments: list[str], work: Path) -> tuple[str, int, str]:
    """The script text of the node's user data, run with the real etcdctl; (text, exit code, output)."""
    text = _user_data_file(env, node.instance, scripts.REMOVE_STALE_ETCD_MEMBER_SCRIPT)
    script = work / "remove-stale-etcd-member.sh"
    script.write_text(text)
    etcdctl = etcdctl_for(env, node)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ETCDCTL": str(etcdctl.binary),
        "ETCD_PKI": str(node.member.etcd_pki),
        "TMPDIR": str(work),
    }
    done = subprocess.run(
        ["bash", str(script), *arguments], check=False, env=environment, capture_output=True, text=True, timeout=120
    )
    return text, done.returncode, (done.stdout + done.stderr).strip()


class HaScenario:
    """One run of the HA case: the steps in order, what each read back in `result`, its problems."""

    def __init__(self, env: Environment, case: Case, work: Path, log_dir: Path, ccm_seconds: float) -> None:
        self.env, self.case, self.work, self.log_dir, self.ccm_seconds = env, case, work, log_dir, ccm_seconds
        self.result: dict[str, Any] = {"replay_skipped": env.replay_skipped}
        self.problems: list[str] = []
        self.nodes: list[HaNode] = []
        self.cluster: EtcdCluster | None = None

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def start(self) -> None:
        """Three members, three API servers, the program's objects and Nodes, three CCMs."""
        env = self.env
        self.nodes = prepare_nodes(env, self.work, self.log_dir)
        if len(self.nodes) != 3:
            raise RuntimeError(f"the HA case expects three control planes, the graph has {len(self.nodes)}")
        self.cluster = start_etcd_cluster(env, self.nodes)
        self.result["etcd_members_initial"] = self.cluster.etcdctl.member_list(self.endpoints)
        self.result["etcd_commands"] = dict(self.cluster.commands)
        for node in self.nodes:
            start_api_server(env, node)
        admin = self.nodes[0].admin(env)
        apply_ccm_objects(env, self.case, admin, env.ip_families, self.nodes[0].proxy.url)
        register_nodes(env, self.case, admin)
        for node in self.nodes:
            start_ccm(env, self.case, node)
        self.result["ccm_commands"] = {node.name: node.ccm_argv for node in self.nodes}

    @property
    def endpoints(self) -> list[str]:
        return [node.member.client_url for node in self.nodes]

    def check_initialised(self) -> None:
        """1. Every Node initialised, read back from an API server."""
        admin = self.nodes[0].admin(self.env)
        everyone = [instance.node_name for instance in self.env.instances]
        wait_for("HA: every node initialised", lambda: _initialised(admin, everyone), self.ccm_seconds, interval=1)
        self.result["nodes"] = [admin.get(f"/api/v1/nodes/{name}") for name in everyone]
        self.problems += check_positive("", self.result["nodes"], self.env.instances, self.env.ip_families)

    def _lease_moved(self, admin: Kube, old_holder: str) -> dict[str, Any] | None:
        lease: dict[str, Any] = admin.get(LEASE_PATH)
        moved = lease["spec"].get("holderIdentity") != old_holder and holder_node(lease, self.names)
        return lease if moved else None

    def fail_over(self) -> HaNode:
        """2. The leader's CCM and API server stopped; the lease moves; a new worker is initialised
        by the new leader. The stopped node."""
        env, names = self.env, self.names
        admin = self.nodes[0].admin(env)
        lease = wait_for(
            "HA: CCM lease held",
            lambda: admin.get(LEASE_PATH) if holder_node(admin.get(LEASE_PATH), names) else None,
            60,
        )
        old_holder = str(lease["spec"]["holderIdentity"])
        leader = next(node for node in self.nodes if node.name == holder_node(lease, names))
        for process in (leader.ccm, leader.api_server):
            if process is not None:
                process.stop()
        admin = next(node for node in self.nodes if node is not leader).admin(env)
        lease = wait_for("HA: CCM lease taken over", lambda: self._lease_moved(admin, old_holder), 90, interval=1)
        new_holder = str(lease["spec"]["holderIdentity"])
        self.result["lease"] = {
            "name": f"kube-system/{CCM_LEASE}",
            "holder_before": old_holder,
            "holder_after": new_holder,
        }
        self.result["stopped"] = {"ccm": leader.name, "kube_apiserver": leader.name}
        self.problems += failover_problems(old_holder, new_holder, leader.name, names)
        new_worker = _scale_out(env)
        apply_manifests(admin, [node_manifest(new_worker, _node_ip(env.config.node_ip_expression, new_worker))])
        wait_for(
            "HA: the new worker initialised",
            lambda: _initialised(admin, [new_worker.node_name]),
            self.ccm_seconds,
            interval=1,
        )
        self.result["new_worker"] = admin.get(f"/api/v1/nodes/{new_worker.node_name}")
        self.problems += check_positive("", [self.result["new_worker"]], [new_worker], env.ip_families)
        new_leader = holder_node(lease, names)
        initialised_by = [n.name for n in self.nodes if f" {new_worker.node_name} " in _initialised_lines(n)]
        self.result["new_worker_initialised_by"] = initialised_by
        if initialised_by != [new_leader]:
            self.problems.append(
                f"{new_worker.node_name} initialised by the CCMs of {initialised_by}, expected {new_leader}"
            )
        return leader

    def replace(self, replaced: HaNode) -> None:
        """3. The node replaced: stale member removed by the rendered script, a fresh member joined."""
        env, cluster = self.env, self.cluster
        assert cluster is not None
        before = cluster.etcdctl.member_list(self.endpoints)
        cluster.stop_and_wipe(replaced.member)
        shutil.rmtree(replaced.member.etcd_pki)
        write_etcd_pki(env.graph, env.cluster_name, replaced.member)  # the new instance's kubeadm certs phase
        boot = _user_data_file(env, replaced.instance, scripts.BOOT_SCRIPT)
        ipv4_to_host = {node.instance.ipv4: node.member.host for node in self.nodes}
        arguments = loopback_script_arguments(boot, replaced.name, replaced.instance.ipv4, ipv4_to_host)
        script_text, exit_code, output = _run_script(env, replaced, arguments, self.work)
        after = cluster.etcdctl.member_list(cluster.endpoints())
        same = script_text == node_tools.REMOVE_STALE_ETCD_MEMBER
        self.result["stale_member_script"] = {
            "node": replaced.name,
            "from_user_data_of": replaced.instance.program_name,
            "arguments": arguments,
            "same_as_components_render_scripts": same,
            "exit_code": exit_code,
            "output": output.splitlines(),
            "members_before": before,
            "members_after": after,
        }
        if not same:
            self.problems.append(
                "the script in the user data is not components.render.node_tools.REMOVE_STALE_ETCD_MEMBER"
            )
        if exit_code != 0:
            self.problems.append(f"the stale-member script exited {exit_code}: {output[-300:]}")
        self.problems += stale_removal_problems(before, after, replaced.name, replaced.member.peer_url)
        self.result["etcd_join"] = cluster.join(replaced.member, replaced.etcd_command)
        members = self.result["etcd_members_final"] = cluster.etcdctl.member_list(self.endpoints)
        health = self.result["etcd_endpoint_health_final"] = cluster.etcdctl.endpoint_health(self.endpoints)
        self.problems += rejoin_problems(members, health, {node.name: node.member.peer_url for node in self.nodes})
        start_api_server(env, replaced)
        listed = self.result["replaced_api_server_nodes"] = len(replaced.admin(env).get("/api/v1/nodes")["items"])
        if listed != len(env.instances) + 1:
            self.problems.append(
                f"the replaced node's API server lists {listed} nodes, expected {len(env.instances) + 1}"
            )

    def finish(self) -> None:
        """Every CCM's AWS calls judged as in the positive cases; the logs' paths."""
        for node in self.nodes:
            calls_file = self.log_dir / f"aws-calls-{node.name}.json"
            summary = node.proxy.write_calls(
                calls_file, {"case": self.case.name, "principal": node.proxy.enforcer.role.session_arn}
            )
            self.problems += [f"{node.name}: {problem}" for problem in call_problems(summary)]
            log = node.ccm_log.read_text(errors="replace") if node.ccm_log.exists() else ""
            # The positive cases' log checks (forbidden, missing CA bundle, AWS authorization errors).
            self.problems += [
                f"{node.name}: {problem}" for problem in check_positive(log, [], [], self.env.ip_families)
            ]
        self.result["ccm_logs"] = {node.name: str(node.ccm_log) for node in self.nodes}
        self.result["decisive_log_lines"] = [
            f"{node.name}: {line}" for node in self.nodes for line in _lease_lines(node)
        ][:10]

    def stop(self) -> None:
        stop_nodes(self.nodes)
        if self.cluster is not None:
            self.cluster.stop()


def run_ha_scenario(env: Environment, case: Case, work: Path, log_dir: Path, ccm_seconds: float) -> dict[str, Any]:
    scenario = HaScenario(env, case, work, log_dir, ccm_seconds)
    try:
        scenario.start()
        scenario.check_initialised()
        replaced = scenario.fail_over()
        scenario.replace(replaced)
        scenario.finish()
    except Exception as error:
        scenario.problems.append(f"the case stopped: {type(error).__name__}: {error}")
    finally:
        scenario.stop()
    return scenario.result | {"problems": scenario.problems}


def _lease_lines(node: HaNode) -> list[str]:
    text = node.ccm_log.read_text(errors="replace") if node.ccm_log.exists() else ""
    return [line for line in text.splitlines() if "Successfully acquired lease" in line]


def _initialised_lines(node: HaNode) -> str:
    text = node.ccm_log.read_text(errors="replace") if node.ccm_log.exists() else ""
    return "\n".join(line for line in text.splitlines() if "Successfully initialized node" in line)


def run_ha_case(stack: str, minor: str, out_dir: Path, ccm_seconds: float) -> dict[str, Any]:
    """Prepare the HA stack's environment, run the case, and the report entry (never raises for a case failure)."""
    case = ha_case(minor)
    started = time.monotonic()
    log_dir = out_dir / case.name
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    private_dir = Path(tempfile.mkdtemp(prefix="k8s-dualstack-e2e-ha-"))
    services: list[Process | MetadataServer | SimulatorSession] = []
    entry: dict[str, Any] = {"name": case.name, "expect": case.expect, "description": case.description, "stack": stack}
    try:
        env, services = prepare(stack, private_dir, log_dir, TOLERATED_SKIPS)
        detail = run_ha_scenario(
            env, case, Path(tempfile.mkdtemp(prefix="work-", dir=private_dir)), log_dir, ccm_seconds
        )
        entry |= {"passed": not detail["problems"], **detail}
    except Exception as error:  # a case that could not run is a failed case, not a crash
        entry |= {"passed": False, "problems": [f"the case could not run: {type(error).__name__}: {error}"]}
    finally:
        for service in services:
            service.stop()
        shutil.rmtree(private_dir, ignore_errors=True)
    ccm_logs = sorted(str(path) for path in log_dir.glob("ccm-*.log"))
    return entry | {
        "seconds": round(time.monotonic() - started, 1),
        "ccm_log": ccm_logs[0] if ccm_logs else str(log_dir),
        "decisive_log_lines": entry.get("decisive_log_lines", []),
        "nodes": entry.get("nodes", []),
    }
