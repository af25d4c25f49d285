"""The controllers of the engine tier's control plane: kube-controller-manager and kube-scheduler with
kubeadm's flags moved onto loopback, and kwok playing the kubelets.

A start of the tier (issue #15), not wired into a runner yet. The e2e harness already runs etcd and
kube-apiserver with kubeadm's flags (e2e.cluster.start_control_plane); these functions take the
commands `kubeadm init phase control-plane controller-manager|scheduler --dry-run` writes
(e2e.cluster.kubeadm_static_pod_command, manifests kube-controller-manager.yaml and
kube-scheduler.yaml) and the same private PKI directory.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from e2e.cluster import remap_pki
from e2e.procs import Process, free_port

KUBEADM_CONFIG_DIR = "/etc/kubernetes"
KUBECONFIG_FLAGS = ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig")


def _flag_name(arg: str) -> str:
    return arg.split("=", 1)[0].removeprefix("--")


def loopback_args(kubeadm_command: list[str], *, pki_dir: Path, kubeconfig: Path, port: int) -> list[str]:
    """kubeadm's flags of a controller-manager or scheduler static pod, for a process on this host.

    The three kubeconfig flags point at `kubeconfig`, PKI paths at `pki_dir`; the process serves
    on 127.0.0.1:`port` and does not elect a leader (one instance, no lease to wait for). A path
    left under /etc/kubernetes is an error rather than a read of this machine's files."""
    replaced = {
        **dict.fromkeys(KUBECONFIG_FLAGS, str(kubeconfig)),
        "bind-address": "127.0.0.1",
        "secure-port": str(port),
        "leader-elect": "false",
    }
    args = []
    for arg in kubeadm_command[1:]:
        if _flag_name(arg) in replaced:
            continue
        moved = remap_pki(arg, pki_dir)
        if KUBEADM_CONFIG_DIR in moved:
            raise ValueError(f"{arg!r} names a file under {KUBEADM_CONFIG_DIR} the engine tier does not provide")
        args.append(moved)
    return args + [f"--{name}={value}" for name, value in replaced.items()]


def kubeconfig_text(server: str, pki_dir: Path, user: str = "admin") -> str:
    """A kubeconfig for `server` with the CA and the `<user>.crt`/`<user>.key` client certificate."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "engine", "cluster": {"server": server, "certificate-authority": str(pki_dir / "ca.crt")}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki_dir / f"{user}.crt"),
                    "client-key": str(pki_dir / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": "engine", "context": {"cluster": "engine", "user": user}}],
        "current-context": "engine",
    }
    return yaml.safe_dump(document, sort_keys=False)


def kwok_args(kubeconfig: Path, port: int, stages: Path) -> list[str]:
    """kwok managing every node (there is no real kubelet) with its stage set (engine/build.py
    writes kwok-stages.yaml next to the binary), its node server on loopback."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        "--manage-all-nodes=true",
        f"--server-address=127.0.0.1:{port}",
    ]


def start_controllers(
    binaries: dict[str, Path],
    *,
    controller_manager_command: list[str],
    scheduler_command: list[str],
    server: str,
    pki_dir: Path,
    log_dir: Path,
) -> list[Process]:
    """kube-controller-manager, kube-scheduler and kwok against `server`; the caller waits and stops."""
    kubeconfig = pki_dir / "engine.kubeconfig"
    kubeconfig.write_text(kubeconfig_text(server, pki_dir))
    kubeconfig.chmod(0o600)
    commands = {
        "kube-controller-manager": loopback_args(
            controller_manager_command, pki_dir=pki_dir, kubeconfig=kubeconfig, port=free_port()
        ),
        "kube-scheduler": loopback_args(scheduler_command, pki_dir=pki_dir, kubeconfig=kubeconfig, port=free_port()),
        "kwok": kwok_args(kubeconfig, free_port(), binaries["kwok"].parent / "kwok-stages.yaml"),
    }
    return [Process(name, [str(binaries[name]), *args], log_dir / f"{name}.log") for name, args in commands.items()]
