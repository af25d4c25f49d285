"""The kubelet's part kwok cannot play for the CCM: running the container of the DaemonSet's pod.

kwok marks the pod Running and Ready; this watcher then runs the real aws-cloud-controller-manager
as a local process with what the pod would get: the pod's own container arguments (read back
from the API server, mount paths moved into a private directory), the files of its volumes (the
Secrets and ConfigMap the program applied, as the API server holds them, plus e2e's
[ServiceOverride] sections pointing EC2 and ELB at the enforcing proxy in front of moto), its
ServiceAccount's token and the IMDS stand-in. A new pod (the DaemonSet rolled) stops the old
process and starts one for the new pod; no pod, no process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.render.ccm_manifests import APP_LABELS, CHECKSUM_ANNOTATION, MOUNT_ROOT
from components.render.rbac import NAMESPACE
from e2e.ccm import ccm_environment, mount_files, service_overrides_text
from e2e.environment import Environment
from e2e.kube import Kube, write_token_kubeconfig
from e2e.procs import Process, free_port

LABEL_SELECTOR = ",".join(f"{key}={value}" for key, value in APP_LABELS.items())
LOOPBACK_FLAGS = ("--secure-port=", "--bind-address=", "--kubeconfig=", "--authentication-kubeconfig=")


def running_pod(pods: list[dict[str, Any]], node_name: str) -> dict[str, Any] | None:
    """The pod kwok runs on `node_name`: Running, not being deleted (the newest if several)."""
    candidates = [
        pod
        for pod in pods
        if pod.get("spec", {}).get("nodeName") == node_name
        and pod.get("status", {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    ]
    return max(candidates, key=lambda pod: pod["metadata"].get("creationTimestamp", ""), default=None)


def container_command(
    binary: Path, pod: dict[str, Any], mount_dir: Path, kubeconfig: Path, *, port: int, mount_root: str = MOUNT_ROOT
) -> list[str]:
    """The pod's first container's arguments as a process on loopback: mounts under `mount_dir`,
    the secure port free and on 127.0.0.1, the ServiceAccount's credentials through `kubeconfig`."""
    container = pod["spec"]["containers"][0]
    args = [str(arg).replace(mount_root, str(mount_dir)) for arg in container.get("args", [])]
    args = [arg for arg in args if not arg.startswith((*LOOPBACK_FLAGS, "--authorization-kubeconfig="))]
    return [
        str(binary),
        *args,
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]


@dataclass
class CcmRun:
    pod: str
    uid: str
    checksum: str | None
    """The pod's cloud-config checksum annotation (from its DaemonSet's template)."""
    log: str
    started_at: float
    stopped_at: float | None = None
    exit_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CcmPodRunner:
    """Polls the API server every `interval` seconds in a thread; `stop` ends it and the CCM."""

    env: Environment
    admin: Kube
    server: str
    node_name: str
    aws_url: str
    work: Path
    log_dir: Path
    interval: float = 1.0
    runs: list[CcmRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _process: Process | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> CcmPodRunner:
        self._thread = threading.Thread(target=self._loop, name="ccm-pod", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._end_current()

    @property
    def current(self) -> CcmRun | None:
        return self.runs[-1] if self.runs and self.runs[-1].stopped_at is None else None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sync()
            except Exception as error:  # the next poll tries again; the report keeps what went wrong
                message = f"{type(error).__name__}: {error}"
                if not self.errors or self.errors[-1] != message:
                    self.errors.append(message)

    def _sync(self) -> None:
        pods = self.admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={LABEL_SELECTOR}")["items"]
        pod = running_pod(pods, self.node_name)
        current = self.current
        if current is not None and self._process is not None and self._process.exited() is not None:
            self._end_current()  # the CCM exited: a kubelet would restart it, so does the next poll
            current = None
        if pod is None:
            self._end_current()
        elif current is None or current.uid != pod["metadata"]["uid"]:
            self._end_current()
            self._start_for(pod)

    def _end_current(self) -> None:
        current = self.current
        if self._process is not None:
            code = self._process.stop()
            if current is not None:
                current.exit_code = code
            self._process = None
        if current is not None:
            current.stopped_at = time.time()

    def _start_for(self, pod: dict[str, Any]) -> None:
        index = len(self.runs) + 1
        pod_dir = self.work / f"ccm-pod-{index}"
        mount_dir = pod_dir / "mount"
        _, overrides_text = service_overrides_text(self.env, self.env.ip_families, self.aws_url)
        mount_files(self.admin, mount_dir, overrides_text)
        account = pod["spec"].get("serviceAccountName", "default")
        kubeconfig = pod_dir / "ccm.kubeconfig"
        write_token_kubeconfig(
            kubeconfig,
            self.server,
            self.env.private_dir / "pki" / "ca.crt",
            f"system:serviceaccount:{NAMESPACE}:{account}",
            self.admin.service_account_token(NAMESPACE, account),
        )
        command = container_command(self.env.binaries.ccm, pod, mount_dir, kubeconfig, port=free_port())
        log = self.log_dir / f"ccm-{index}.log"
        self._process = Process("aws-cloud-controller-manager", command, log, ccm_environment(self.env, pod_dir))
        annotations = pod["metadata"].get("annotations") or {}
        self.runs.append(
            CcmRun(
                pod=pod["metadata"]["name"],
                uid=pod["metadata"]["uid"],
                checksum=annotations.get(CHECKSUM_ANNOTATION),
                log=str(log),
                started_at=time.time(),
            )
        )
