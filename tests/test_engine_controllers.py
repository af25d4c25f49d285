"""engine/controllers.py: kubeadm's controller-manager and scheduler flags moved onto loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.controllers import kubeconfig_text, kwok_args, loopback_args

# What `kubeadm init phase control-plane controller-manager|scheduler --dry-run` (kubeadm v1.35.3)
# writes for a dual-stack ClusterConfiguration (podSubnet 10.244.0.0/16,fd00:10:244::/56,
# serviceSubnet 10.96.0.0/16,fd00:10:96::/112): the input, not an expected value.
KUBEADM_CONTROLLER_MANAGER = [
    "kube-controller-manager",
    "--allocate-node-cidrs=true",
    "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
    "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
    "--bind-address=127.0.0.1",
    "--client-ca-file=/etc/kubernetes/pki/ca.crt",
    "--cluster-cidr=10.244.0.0/16,fd00:10:244::/56",
    "--cluster-name=kubernetes",
    "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
    "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
    "--controllers=*,bootstrapsigner,tokencleaner",
    "--kubeconfig=/etc/kubernetes/controller-manager.conf",
    "--leader-elect=true",
    "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
    "--root-ca-file=/etc/kubernetes/pki/ca.crt",
    "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
    "--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112",
    "--use-service-account-credentials=true",
]
KUBEADM_SCHEDULER = [
    "kube-scheduler",
    "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
    "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
    "--bind-address=127.0.0.1",
    "--kubeconfig=/etc/kubernetes/scheduler.conf",
    "--leader-elect=true",
]


def _flags(args: list[str]) -> dict[str, str]:
    pairs = [arg.removeprefix("--").split("=", 1) for arg in args]
    assert all(len(pair) == 2 for pair in pairs), args
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a flag given twice: {names}"
    return dict(pairs)


def test_controller_manager_keeps_the_dual_stack_ipam_and_moves_files_and_ports(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "engine.kubeconfig"
    flags = _flags(
        loopback_args(KUBEADM_CONTROLLER_MANAGER, pki_dir=tmp_path / "pki", kubeconfig=kubeconfig, port=10999)
    )
    # Node IPAM for both families, as kubeadm configures it (the issue asks for dual-stack node IPAM).
    assert flags["allocate-node-cidrs"] == "true"
    assert flags["cluster-cidr"] == "10.244.0.0/16,fd00:10:244::/56"
    assert flags["controllers"] == "*,bootstrapsigner,tokencleaner"
    for name in ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"):
        assert flags[name] == str(kubeconfig)
    assert flags["service-account-private-key-file"] == str(tmp_path / "pki" / "sa.key")
    assert flags["cluster-signing-key-file"] == str(tmp_path / "pki" / "ca.key")
    assert (flags["secure-port"], flags["bind-address"], flags["leader-elect"]) == ("10999", "127.0.0.1", "false")
    assert not any("/etc/kubernetes" in value for value in flags.values())


def test_scheduler_gets_the_same_kubeconfig_and_its_own_port(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "engine.kubeconfig"
    flags = _flags(loopback_args(KUBEADM_SCHEDULER, pki_dir=tmp_path, kubeconfig=kubeconfig, port=11000))
    assert flags == {
        "authentication-kubeconfig": str(kubeconfig),
        "authorization-kubeconfig": str(kubeconfig),
        "kubeconfig": str(kubeconfig),
        "bind-address": "127.0.0.1",
        "secure-port": "11000",
        "leader-elect": "false",
    }


def test_a_host_file_outside_the_pki_is_refused(tmp_path: Path) -> None:
    command = [*KUBEADM_SCHEDULER, "--config=/etc/kubernetes/scheduler-config.yaml"]
    with pytest.raises(ValueError, match=r"scheduler-config\.yaml"):
        loopback_args(command, pki_dir=tmp_path, kubeconfig=tmp_path / "k", port=1)


def test_kubeconfig_names_the_server_and_the_client_certificate(tmp_path: Path) -> None:
    document = yaml.safe_load(kubeconfig_text("https://127.0.0.1:6443", tmp_path))
    context = document["contexts"][0]["context"]
    cluster = next(item["cluster"] for item in document["clusters"] if item["name"] == context["cluster"])
    user = next(item["user"] for item in document["users"] if item["name"] == context["user"])
    assert document["current-context"] == document["contexts"][0]["name"]
    assert cluster == {"server": "https://127.0.0.1:6443", "certificate-authority": str(tmp_path / "ca.crt")}
    assert user == {"client-certificate": str(tmp_path / "admin.crt"), "client-key": str(tmp_path / "admin.key")}


def test_kwok_manages_every_node_and_serves_on_loopback(tmp_path: Path) -> None:
    flags = _flags(kwok_args(tmp_path / "k", 12000, tmp_path / "stages.yaml"))
    assert flags == {
        "kubeconfig": str(tmp_path / "k"),
        "config": str(tmp_path / "stages.yaml"),
        "manage-all-nodes": "true",
        "server-address": "127.0.0.1:12000",
    }
