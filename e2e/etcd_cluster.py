"""A stacked etcd cluster on loopback, as kubeadm runs it on three control planes, for the HA case.

Each member stands for one control plane's etcd: its command line is the one the real kubeadm
writes into the etcd static pod for the program's kubeadm configuration (`kubeadm init phase etcd
local --dry-run`, with that node's name and IPv4), its certificates are kubeadm's layout
(`pki/etcd/{ca,server,peer,healthcheck-client}` and `pki/apiserver-etcd-client`, signed by the
program's etcd CA from the graph), and it serves TLS on `https://<host>:2379` and `:2380`, the
ports the stale-member script assumes. Every node gets its own loopback address (127.0.0.2, .3,
.4: Linux routes all of 127/8 to lo) in place of its IPv4. The one change to kubeadm's flags
beyond that mapping and the file paths: the extra client listener on 127.0.0.1:2379 is dropped
(three members on one host cannot all bind it), so each API server reaches its own member at
that member's address, and `--unsafe-no-fsync` is added as in the other cases.

The first member starts alone (kubeadm init); the others join as kubeadm join --control-plane
does: `member add --learner` with the node's name and peer URL, etcd started with the member list
as `--initial-cluster` and `--initial-cluster-state=existing`, then `member promote` (retried until
the learner has caught up).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.x509.oid import ExtendedKeyUsageOID

from components.pki_layout import KUBERNETES_PKI_DIR
from e2e.pki import PRIVATE_KEY, SELF_SIGNED, _leaf_certificate, _name, _state, _write
from e2e.procs import Process, wait_for
from tools.offline.capture import Graph

CLIENT_PORT, PEER_PORT = 2379, 2380
LOOPBACK_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")


@dataclass(frozen=True)
class EtcdMember:
    name: str
    """The node name: kubeadm's `--name` of the member, what the stale-member script matches."""
    host: str
    """The loopback address standing for the node's IPv4."""
    node_ipv4: str
    """The instance's IPv4, as kubeadm's manifest has it."""
    pki_dir: Path
    """The node's /etc/kubernetes/pki."""
    data_dir: Path
    log: Path

    @property
    def peer_url(self) -> str:
        return f"https://{self.host}:{PEER_PORT}"

    @property
    def client_url(self) -> str:
        return f"https://{self.host}:{CLIENT_PORT}"

    @property
    def etcd_pki(self) -> Path:
        return self.pki_dir / "etcd"


def write_etcd_pki(graph: Graph, cluster_name: str, member: EtcdMember) -> None:
    """The etcd CA (from the graph) and what kubeadm's certs phase signs with it on that node."""
    ca_cert = _state(graph, SELF_SIGNED, f"{cluster_name}-etcd-ca", "certPem")
    ca_key = _state(graph, PRIVATE_KEY, f"{cluster_name}-etcd-ca", "privateKeyPem")
    member.etcd_pki.mkdir(mode=0o700, parents=True, exist_ok=True)
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    # kubeadm's SANs of etcd/server and etcd/peer: the node name, localhost, its address, 127.0.0.1, ::1.
    hosts = [member.name, "localhost", member.host, "127.0.0.1", "::1"]
    files = {"etcd/ca.crt": ca_cert, "etcd/ca.key": ca_key}
    files["etcd/server.crt"], files["etcd/server.key"] = _leaf_certificate(
        ca_cert, ca_key, _name(member.name), both, hosts
    )
    files["etcd/peer.crt"], files["etcd/peer.key"] = _leaf_certificate(ca_cert, ca_key, _name(member.name), both, hosts)
    files["etcd/healthcheck-client.crt"], files["etcd/healthcheck-client.key"] = _leaf_certificate(
        ca_cert, ca_key, _name("kube-etcd-healthcheck-client"), ExtendedKeyUsageOID.CLIENT_AUTH, []
    )
    files["apiserver-etcd-client.crt"], files["apiserver-etcd-client.key"] = _leaf_certificate(
        ca_cert, ca_key, _name("kube-apiserver-etcd-client"), ExtendedKeyUsageOID.CLIENT_AUTH, []
    )
    for name, text in files.items():
        _write(member.pki_dir / name, text)


def loopback_etcd_args(
    kubeadm_command: Sequence[str], member: EtcdMember, initial_cluster: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """kubeadm's etcd flags for `member` on loopback; with `initial_cluster` ((name, peer URL) of
    every member, this one included) the flags kubeadm writes for a joining member."""
    args = []
    for arg in kubeadm_command[1:]:
        name, _, value = arg.removeprefix("--").partition("=")
        value = value.replace(f"//{member.node_ipv4}:", f"//{member.host}:").replace(
            KUBERNETES_PKI_DIR, str(member.pki_dir)
        )
        if name == "listen-client-urls":
            value = ",".join(url for url in value.split(",") if url != f"https://127.0.0.1:{CLIENT_PORT}")
        elif name == "listen-metrics-urls":
            value = value.replace("//127.0.0.1:", f"//{member.host}:")
        elif name == "data-dir":
            value = str(member.data_dir)
        elif name == "initial-cluster" and initial_cluster is not None:
            value = ",".join(f"{member_name}={url}" for member_name, url in initial_cluster)
        args.append(f"--{name}={value}")
    if initial_cluster is not None:
        args.append("--initial-cluster-state=existing")
    return [*args, "--unsafe-no-fsync=true"]


@dataclass(frozen=True)
class Etcdctl:
    """The real etcdctl with the healthcheck client certificate of one node's etcd PKI."""

    binary: Path
    etcd_pki: Path

    def command(self, endpoints: Sequence[str], *args: str) -> list[str]:
        return [
            str(self.binary),
            f"--endpoints={','.join(endpoints)}",
            f"--cacert={self.etcd_pki / 'ca.crt'}",
            f"--cert={self.etcd_pki / 'healthcheck-client.crt'}",
            f"--key={self.etcd_pki / 'healthcheck-client.key'}",
            "--dial-timeout=5s",
            "--command-timeout=15s",
            *args,
        ]

    def run(self, endpoints: Sequence[str], *args: str) -> str:
        done = subprocess.run(self.command(endpoints, *args), check=False, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[:500]}")
        return done.stdout

    def member_list(self, endpoints: Sequence[str]) -> list[dict[str, Any]]:
        """The members, each {id (hex, as `member list -w simple` prints it), name, peer_urls, is_learner}."""
        answer = json.loads(self.run(endpoints, "member", "list", "--write-out=json"))
        return [
            {
                "id": format(int(member["ID"]), "x"),
                "name": member.get("name", ""),
                "peer_urls": list(member.get("peerURLs", [])),
                "client_urls": list(member.get("clientURLs", [])),
                "is_learner": bool(member.get("isLearner", False)),
            }
            for member in answer.get("members", [])
        ]

    def endpoint_health(self, endpoints: Sequence[str]) -> list[dict[str, Any]]:
        """`endpoint health` of each endpoint; an unhealthy one makes etcdctl exit 1, so not `run`."""
        command = self.command(endpoints, "endpoint", "health", "--write-out=json")
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
        try:
            answers = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"etcdctl endpoint health: {done.stderr.strip()[:500]}") from None
        return [
            {"endpoint": a["endpoint"], "health": bool(a.get("health")), "error": a.get("error", "")} for a in answers
        ]


class EtcdCluster:
    """The members' processes; started, joined, stopped and wiped as the case says."""

    def __init__(self, etcd_binary: Path, etcdctl: Etcdctl) -> None:
        self.etcd_binary = etcd_binary
        self.etcdctl = etcdctl
        self.processes: dict[str, Process] = {}
        self.commands: dict[str, list[str]] = {}

    def _start(self, member: EtcdMember, args: list[str]) -> None:
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
        command = [str(self.etcd_binary), *args]
        self.commands[member.name] = command
        self.processes[member.name] = Process(f"etcd {member.name}", command, member.log)

    def endpoints(self, except_name: str | None = None) -> list[str]:
        return [
            f"https://{_host(cmd)}:{CLIENT_PORT}"
            for name, cmd in self.commands.items()
            if name != except_name and name in self.processes
        ]

    def start_first(self, member: EtcdMember, kubeadm_command: Sequence[str]) -> None:
        self._start(member, loopback_etcd_args(kubeadm_command, member))
        self._wait_healthy(member)

    def join(self, member: EtcdMember, kubeadm_command: Sequence[str]) -> list[dict[str, Any]]:
        """kubeadm join's etcd steps for `member`; the member list `member add` answered."""
        endpoints = self.endpoints(except_name=member.name)
        # etcd refuses a member add until the last one has been connected for a few seconds
        # ("unhealthy cluster"); kubeadm's etcd client retries it the same way.
        added = wait_for(
            f"etcd member add {member.name}",
            lambda: self.etcdctl.run(
                endpoints,
                "member",
                "add",
                member.name,
                f"--peer-urls={member.peer_url}",
                "--learner",
                "--write-out=json",
            ),
            60,
            interval=1,
        )
        answer = json.loads(added)
        new_id = int(answer["member"]["ID"])
        initial = [
            (member.name if int(m["ID"]) == new_id else m.get("name", ""), m["peerURLs"][0]) for m in answer["members"]
        ]
        self._start(member, loopback_etcd_args(kubeadm_command, member, initial))
        wait_for(
            f"etcd member {member.name} promoted",
            lambda: self.etcdctl.run(endpoints, "member", "promote", format(new_id, "x")) or None,
            90,
            interval=1,
            alive=self.processes[member.name],
        )
        self._wait_healthy(member)
        return [{"id": format(int(m["ID"]), "x"), "peer_urls": m["peerURLs"]} for m in answer["members"]]

    def _wait_healthy(self, member: EtcdMember) -> None:
        def healthy() -> bool | None:
            return True if all(a["health"] for a in self.etcdctl.endpoint_health([member.client_url])) else None

        wait_for(f"etcd member {member.name} healthy", healthy, 90, interval=1, alive=self.processes[member.name])

    def stop_and_wipe(self, member: EtcdMember) -> None:
        """The replaced instance: its etcd gone, its disk with it."""
        self.processes.pop(member.name).stop()
        shutil.rmtree(member.data_dir, ignore_errors=True)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


def _host(command: Sequence[str]) -> str:
    for arg in command:
        if arg.startswith("--advertise-client-urls="):
            return arg.split("//", 1)[1].rsplit(":", 1)[0]
    raise LookupError("etcd command without --advertise-client-urls")
