"""The control planes' upgrade script (components/render/upgrade.py) run for real by bash, with the
commands it drives (curl, kubeadm, kubectl, systemctl) replaced by recording stand-ins; and checked
by shellcheck for every release row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.render.upgrade import upgrade_document, upgrade_script
from components.settings import Architecture
from components.versions import RELEASES, release_for

RELEASE = release_for("1.23")
TARGET = f"v{RELEASE.kubernetes_version}"
OLD = "v1.22.17"
NODE = "ip-10-0-0-10.ec2.internal"

# Each stand-in appends "<command> <args>" to $CALLS; the cluster's state is files in $STATE.
STANDINS = {
    "curl": r"""#!/bin/bash
out="" url=""
while [[ $# -gt 0 ]]; do
  case "$1" in -o) out="$2"; shift 2 ;; -H|-X|--retry|--retry-delay) shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac
done
case "${url}" in
  */api/token) echo token ;;
  */meta-data/local-hostname) echo "${NODE} ${NODE}" ;;
  *.sha256) printf 'content of %s' "$(basename "${url%.sha256}")" | sha256sum ;;
  *) printf 'content of %s' "$(basename "${url}")" >"${out}"; echo "curl ${url}" >>"${CALLS}" ;;
esac
""",
    "kubeadm": r"""#!/bin/bash
echo "kubeadm $*" >>"${CALLS}"
[[ -z "${KUBEADM_FAILS:-}" || "$*" != *"${KUBEADM_FAILS}"* ]] || { echo "kubeadm: simulated failure" >&2; exit 1; }
if [[ "$1 $2" == "upgrade apply" ]]; then echo "${TARGET}" >"${STATE}/server"; fi
if [[ "$1" == "upgrade" && "$2" != "plan" && -z "${STATIC_POD_STUCK:-}" ]]; then echo "${TARGET}" >"${STATE}/local"; fi
""",
    "kubectl": r"""#!/bin/bash
case "$1" in
  version) printf '{"serverVersion": {"gitVersion": "%s"}}' "$(cat "${STATE}/server")" ;;
  get)
    case "$*" in
      *kubeletVersion*) cat "${STATE}/kubelet" ;;
      *"kube-apiserver-${NODE}"*image*) echo "registry.k8s.io/kube-apiserver:$(cat "${STATE}/local")" ;;
      *Ready*) echo True ;;
    esac ;;
  *) echo "kubectl $*" >>"${CALLS}" ;;
esac
""",
    "systemctl": r"""#!/bin/bash
echo "systemctl $*" >>"${CALLS}"
if [[ "$*" == "restart kubelet" && -z "${KUBELET_STUCK:-}" ]]; then echo "${TARGET}" >"${STATE}/kubelet"; fi
""",
}


def _script(tmp_path: Path, boot_wait: int = 30, api_wait: int = 30) -> Path:
    """The rendered script with its node paths moved into tmp_path (the only lines changed)."""
    text = upgrade_script(RELEASE, Architecture.AMD64)
    replacements = {
        "readonly BIN_DIR=/usr/local/bin": f"readonly BIN_DIR={tmp_path}/bin",
        "readonly UPGRADE_LOG_FILE=/var/log/k8s-upgrade.log": f"readonly UPGRADE_LOG_FILE={tmp_path}/upgrade.log",
        "readonly BOOT_LOG_FILE=/var/log/k8s-bootstrap.log": f"readonly BOOT_LOG_FILE={tmp_path}/bootstrap.log",
        "readonly BOOT_WAIT_SECONDS=1800": f"readonly BOOT_WAIT_SECONDS={boot_wait}",
        "readonly API_WAIT_SECONDS=600": f"readonly API_WAIT_SECONDS={api_wait}",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "k8s-upgrade.sh"
    path.write_text(text)
    return path


def _run(
    tmp_path: Path, mode: str, server: str, kubelet: str, local: str | None = None, **env: str
) -> tuple[int, list[str], str]:
    """`server`: what /version says (any API server); `local`: this node's API server (default: `server`)."""
    standins, state = tmp_path / "standins", tmp_path / "state"
    for directory in (standins, state, tmp_path / "bin"):
        directory.mkdir(exist_ok=True)
    for name, body in STANDINS.items():
        (standins / name).write_text(body)
        (standins / name).chmod(0o755)
    (state / "server").write_text(server + "\n")
    (state / "kubelet").write_text(kubelet + "\n")
    (state / "local").write_text((local or server) + "\n")
    calls = tmp_path / "calls"
    calls.write_text("")
    script = tmp_path / "k8s-upgrade.sh"
    if not script.exists():
        _script(tmp_path)
    environment = {
        **os.environ,
        "PATH": f"{standins}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "STATE": str(state),
        "NODE": NODE,
        "TARGET": TARGET,
        **env,
    }
    done = subprocess.run(
        ["bash", str(script), mode], check=False, env=environment, capture_output=True, text=True, timeout=120
    )
    return done.returncode, calls.read_text().splitlines(), done.stdout + done.stderr


@pytest.fixture
def booted(tmp_path: Path) -> Path:
    (tmp_path / "bootstrap.log").write_text("k8s-bootstrap: control plane initialised\n")
    return tmp_path


def _commands(calls: list[str]) -> list[str]:
    return [call for call in calls if not call.startswith("curl ")]


def test_the_first_control_plane_upgrades_in_kubeadms_order(booted: Path) -> None:
    code, calls, output = _run(booted, "apply", server=OLD, kubelet=OLD)
    assert code == 0, output
    assert _commands(calls) == [
        f"kubeadm upgrade plan {TARGET}",
        f"kubeadm upgrade apply --yes {TARGET}",
        f"kubectl drain {NODE} --ignore-daemonsets --delete-emptydir-data --timeout=300s",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
        f"kubectl uncordon {NODE}",
    ]
    downloads = [call.split()[1] for call in calls if call.startswith("curl ")]
    assert downloads == [
        f"https://dl.k8s.io/release/{TARGET}/bin/linux/amd64/{binary}" for binary in ("kubeadm", "kubelet", "kubectl")
    ]
    assert (booted / "bin" / "kubelet").read_text() == "content of kubelet"
    assert f"{NODE} upgraded to {TARGET}" in (booted / "upgrade.log").read_text()


def test_the_other_control_planes_run_upgrade_node(booted: Path) -> None:
    code, calls, output = _run(booted, "node", server=TARGET, kubelet=OLD, local=OLD)
    assert code == 0, output
    assert _commands(calls)[0] == "kubeadm upgrade node"
    assert not any("upgrade apply" in call for call in calls)


def test_a_second_run_changes_nothing(booted: Path) -> None:
    code, calls, output = _run(booted, "apply", server=TARGET, kubelet=TARGET)
    assert code == 0, output
    assert f"already at {TARGET}: nothing to do" in output
    assert calls == []


def test_a_failed_kubeadm_stops_before_the_node_is_drained(booted: Path) -> None:
    code, calls, output = _run(booted, "apply", server=OLD, kubelet=OLD, KUBEADM_FAILS="upgrade apply")
    assert code != 0
    assert "simulated failure" in output and "failed at line" in output
    assert _commands(calls)[-1] == f"kubeadm upgrade apply --yes {TARGET}"


def test_a_node_that_fails_after_the_drain_is_uncordoned(booted: Path) -> None:
    # The new kubelet never reports the new version.
    _script(booted, api_wait=0)
    code, calls, output = _run(booted, "node", server=TARGET, kubelet=OLD, local=OLD, KUBELET_STUCK="1")
    assert code != 0
    assert "gave up after" in output and f"the kubelet of {NODE} to report {TARGET}" in output
    assert calls[-1] == f"kubectl uncordon {NODE}"


def test_a_node_still_booting_is_waited_for_within_a_bound(tmp_path: Path) -> None:
    _script(tmp_path, boot_wait=0)
    code, calls, output = _run(tmp_path, "apply", server=OLD, kubelet=OLD)
    assert code != 0
    assert "gave up after 0 s waiting for this node's bootstrap" in output
    assert calls == []


def test_a_node_whose_kubelet_is_new_but_api_server_old_is_upgraded(booted: Path) -> None:
    # A run that failed between the kubelet and the static pods: the kubelet is not enough to skip.
    code, calls, output = _run(booted, "node", server=TARGET, kubelet=TARGET, local=OLD)
    assert code == 0, output
    assert "nothing to do" not in output and _commands(calls)[0] == "kubeadm upgrade node"


def test_a_local_api_server_that_never_runs_the_target_fails_the_step(booted: Path) -> None:
    _script(booted, api_wait=0)
    code, calls, output = _run(booted, "node", server=TARGET, kubelet=OLD, local=OLD, STATIC_POD_STUCK="1")
    assert code != 0
    assert f"this node's API server (kube-apiserver-{NODE}) to run {TARGET}" in output
    assert calls[-1] == f"kubectl uncordon {NODE}"


def test_a_wrong_mode_is_refused(booted: Path) -> None:
    code, calls, output = _run(booted, "upgrade", server=OLD, kubelet=OLD)
    assert code == 2 and "usage:" in output and calls == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("minor", [release.minor for release in RELEASES])
def test_shellcheck_accepts_every_releases_script(tmp_path: Path, minor: str) -> None:
    path = tmp_path / "k8s-upgrade.sh"
    path.write_text(upgrade_script(release_for(minor), Architecture.ARM64))
    done = subprocess.run(["shellcheck", "--severity=style", str(path)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_document_runs_the_script_it_carries_with_the_mode_parameter() -> None:
    document = upgrade_document(RELEASE, Architecture.AMD64)
    assert document["schemaVersion"] == "2.2"
    assert document["parameters"]["mode"]["allowedValues"] == ["apply", "node"]
    commands = document["mainSteps"][0]["inputs"]["runCommand"]
    start, end = (
        commands.index("cat >/usr/local/lib/k8s-upgrade.sh <<'K8S_UPGRADE_SCRIPT'"),
        commands.index("K8S_UPGRADE_SCRIPT"),
    )
    assert "\n".join(commands[start + 1 : end]) + "\n" == upgrade_script(RELEASE, Architecture.AMD64)
    assert commands[end + 1] == "bash /usr/local/lib/k8s-upgrade.sh '{{ mode }}'"
    # SSM substitutes {{ name }} anywhere in the commands: the script must hold no other such marker.
    assert json.dumps(commands).count("{{") == 1
