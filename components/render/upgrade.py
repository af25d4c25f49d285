"""The control planes' in-place upgrade: a shell script in an SSM Command document.

One document per cluster and Kubernetes version; State Manager runs it on one control plane at a
time (components/upgrade.py): `apply` on the first (`kubeadm upgrade apply`), `node` on the others
(`kubeadm upgrade node`). Each run installs that release's kubeadm, upgrades, drains the node,
installs the new kubelet and kubectl, restarts the kubelet, waits (bounded) until the node's kubelet
reports the new version and the node is Ready, uncordons, and waits until the node's own API
server (its mirror pod) runs the new release (the first one also until `/version` reports it). It
is idempotent: a second run on an upgraded node changes nothing, so a failed `pulumi up` can simply
run again.
"""

from __future__ import annotations

import shlex
from typing import Any

from components.render.scripts import BIN_DIR, IMDS, LOG_FILE, VERIFIED_INSTALL, kubernetes_binary_url
from components.settings import Architecture
from components.versions import Release

UPGRADE_LOG_FILE = "/var/log/k8s-upgrade.log"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
# A control plane that is still booting (a new stack's first `up`) finishes first; then each wait
# for a version is bounded by API_WAIT_SECONDS. The document's own limit covers all of them.
BOOT_WAIT_SECONDS = 1800
API_WAIT_SECONDS = 600
DRAIN_TIMEOUT_SECONDS = 300
DOCUMENT_TIMEOUT_SECONDS = BOOT_WAIT_SECONDS + 3 * API_WAIT_SECONDS + DRAIN_TIMEOUT_SECONDS
MODES = ("apply", "node")
"""`apply`: the first control plane (`kubeadm upgrade apply`); `node`: every other one."""

_SCRIPT = (
    r"""#!/bin/bash
# Upgrades this control plane to Kubernetes ${TARGET}: run by SSM State Manager (components/upgrade.py).
# Usage: k8s-upgrade.sh apply|node
set -Eeuo pipefail
umask 022
readonly MODE="${1:-}"
[[ "${MODE}" == apply || "${MODE}" == node ]] || { echo "usage: $0 apply|node" >&2; exit 2; }
export KUBECONFIG="${ADMIN_KUBECONFIG}"

log() { printf 'k8s-upgrade: %s\n' "$*"; }
fail() { log "ERROR: $*" >&2; exit 1; }
touch "${UPGRADE_LOG_FILE}"
chmod 0600 "${UPGRADE_LOG_FILE}"
exec > >(tee -a "${UPGRADE_LOG_FILE}") 2>&1
WORK_DIR="$(mktemp -d)"
NODE_NAME=""
drained=false
cleanup() {
  rm -rf "${WORK_DIR}"
  # A step that fails after the drain leaves the node schedulable on whatever version it runs (both
  # are within the skew); a node this script did not drain is left as it was.
  if [[ "${drained}" == true ]]; then kubectl uncordon "${NODE_NAME}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'log "failed at line ${LINENO}"' ERR

"""
    + VERIFIED_INSTALL
    + r"""
# wait_until SECONDS WHAT COMMAND...: COMMAND every 10 s until it succeeds, or fail naming WHAT.
wait_until() {
  local limit="$1" what="$2"
  local deadline=$((SECONDS + limit))
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "gave up after ${limit} s waiting for ${what}"
    sleep 10
  done
}

booted() { grep -qE 'control plane (initialised|joined)' "${BOOT_LOG_FILE}" 2>/dev/null; }
api_server_version() {
  kubectl version -o json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'
}
api_server_at_target() { [[ "$(api_server_version)" == "${TARGET}" ]]; }
kubelet_at_target() {
  [[ "$(kubectl get node "${NODE_NAME}" -o 'jsonpath={.status.nodeInfo.kubeletVersion}')" == "${TARGET}" ]]
}
# This node's own API server (kubeadm's static pod, seen through its mirror pod) runs the target release.
local_api_server_at_target() {
  local pod="kube-apiserver-${NODE_NAME}" ready='jsonpath={.status.conditions[?(@.type=="Ready")].status}'
  [[ "$(kubectl get pod "${pod}" -n kube-system -o 'jsonpath={.spec.containers[0].image}')" == *":${TARGET}" ]] &&
    [[ "$(kubectl get pod "${pod}" -n kube-system -o "${ready}")" == True ]]
}
node_ready() {
  [[ "$(kubectl get node "${NODE_NAME}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

wait_until "${BOOT_WAIT_SECONDS}" "this node's bootstrap (${BOOT_LOG_FILE})" booted
imds_token="$(curl -fsS --retry 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "${IMDS}/api/token")"
NODE_NAME="$(curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: ${imds_token}" "${IMDS}/meta-data/local-hostname" |
  awk '{print $1}')"
log "node ${NODE_NAME}: API server $(api_server_version), upgrading (${MODE}) to ${TARGET}"

if kubelet_at_target && local_api_server_at_target; then
  log "already at ${TARGET}: nothing to do"
  exit 0
fi

install_binary "${KUBEADM_URL}" kubeadm
if [[ "${MODE}" == apply ]]; then
  kubeadm upgrade plan "${TARGET}"
  kubeadm upgrade apply --yes "${TARGET}"
else
  kubeadm upgrade node
fi
drained=true
kubectl drain "${NODE_NAME}" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT_SECONDS}s"
install_binary "${KUBELET_URL}" kubelet
install_binary "${KUBECTL_URL}" kubectl
systemctl daemon-reload
systemctl restart kubelet
wait_until "${API_WAIT_SECONDS}" "the kubelet of ${NODE_NAME} to report ${TARGET}" kubelet_at_target
wait_until "${API_WAIT_SECONDS}" "${NODE_NAME} to be Ready" node_ready
kubectl uncordon "${NODE_NAME}"
drained=false
wait_until "${API_WAIT_SECONDS}" "this node's API server (kube-apiserver-${NODE_NAME}) to run ${TARGET}" \
  local_api_server_at_target
if [[ "${MODE}" == apply ]]; then
  wait_until "${API_WAIT_SECONDS}" "the API server to report ${TARGET}" api_server_at_target
fi
log "${NODE_NAME} upgraded to ${TARGET}"
"""
)


def upgrade_script(release: Release, architecture: Architecture) -> str:
    """The script with this release's literal settings in front (what runs is what a reader sees)."""
    settings = {
        "TARGET": f"v{release.kubernetes_version}",
        "BIN_DIR": BIN_DIR,
        "IMDS": IMDS,
        "UPGRADE_LOG_FILE": UPGRADE_LOG_FILE,
        "BOOT_LOG_FILE": LOG_FILE,
        "ADMIN_KUBECONFIG": ADMIN_KUBECONFIG,
        "BOOT_WAIT_SECONDS": str(BOOT_WAIT_SECONDS),
        "API_WAIT_SECONDS": str(API_WAIT_SECONDS),
        "DRAIN_TIMEOUT_SECONDS": str(DRAIN_TIMEOUT_SECONDS),
        **{
            f"{binary.upper()}_URL": kubernetes_binary_url(release, architecture, binary)
            for binary in ("kubeadm", "kubelet", "kubectl")
        },
    }
    header, body = _SCRIPT.split("set -Eeuo pipefail\n", 1)
    lines = "".join(f"readonly {name}={shlex.quote(value)}\n" for name, value in settings.items())
    return header.replace("${TARGET}", settings["TARGET"]) + "set -Eeuo pipefail\n" + lines + body


def upgrade_document(release: Release, architecture: Architecture) -> dict[str, Any]:
    """An SSM Command document (schema 2.2) that writes the script and runs it with the `mode` parameter."""
    script = upgrade_script(release, architecture)
    return {
        "schemaVersion": "2.2",
        "description": f"Upgrade a control plane to Kubernetes {release.kubernetes_version} (k8s-dualstack-aws)",
        "parameters": {
            "mode": {
                "type": "String",
                "description": "apply: the first control plane (kubeadm upgrade apply); node: the others",
                "allowedValues": list(MODES),
            }
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "upgradeControlPlane",
                "inputs": {
                    "timeoutSeconds": str(DOCUMENT_TIMEOUT_SECONDS),
                    "runCommand": [
                        "cat >/usr/local/lib/k8s-upgrade.sh <<'K8S_UPGRADE_SCRIPT'",
                        *script.splitlines(),
                        "K8S_UPGRADE_SCRIPT",
                        "bash /usr/local/lib/k8s-upgrade.sh '{{ mode }}'",
                    ],
                },
            }
        ],
    }
