"""The files a node's cloud-init writes: boot script, SSM fetcher, kubelet units.

The boot script is a fixed shell library plus a list of steps rendered from the release;
every value in a step is a literal so a reader of the user data sees exactly what runs. The helper
programs it calls (the SSM fetcher, the stale etcd member removal) are in node_tools.py.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.pki_layout import CONTROL_PLANE_FILES, bootstrap_token_parameter
from components.render.bootstrap import (
    ADDRESS_VARIABLE,
    NODE_IPV4,
    PLACEHOLDER_VARIABLES,
    ClusterBootstrap,
    placeholder,
)
from components.render.kubeadm import IMAGE_REPOSITORY
from components.settings import Architecture
from components.versions import Release

LOG_FILE = "/var/log/k8s-bootstrap.log"
STATE_DIR = "/etc/k8s-bootstrap"
LIB_DIR = "/usr/local/lib/k8s-bootstrap"
BIN_DIR = "/usr/local/bin"
IMDS = "http://169.254.169.254/latest"
BOOT_SCRIPT = f"{LIB_DIR}/bootstrap.sh"
FETCH_SCRIPT = f"{LIB_DIR}/fetch-ssm-parameters.py"
REMOVE_STALE_ETCD_MEMBER_SCRIPT = f"{LIB_DIR}/remove-stale-etcd-member.sh"
FETCH_MANIFEST = f"{STATE_DIR}/ssm-parameters.json"
TOKEN_FILE = f"{STATE_DIR}/bootstrap-token"
KUBEADM_TEMPLATE = f"{STATE_DIR}/kubeadm.yaml.tmpl"
KUBEADM_CONFIG = f"{STATE_DIR}/kubeadm.yaml"
KUBEADM_JOIN_TEMPLATE = f"{STATE_DIR}/kubeadm-join.yaml.tmpl"
"""The first control plane's JoinConfiguration, used instead of kubeadm init when it replaces the
first control plane of a running cluster."""
KUBERNETES_BINARIES = ("kubeadm", "kubelet", "kubectl")
# A worker may boot long before the API server answers; kubeadm join itself waits up to
# its discovery timeout per try, so 40 tries cover a control plane that is still installing.
JOIN_ATTEMPTS = 40
JOIN_RETRY_SECONDS = 15
ETCD_PKI_DIR = "/etc/kubernetes/pki/etcd"
# A new first control plane asks the others' etcd this often whether a cluster runs already: at the
# cluster's creation they do not answer (they wait for it), so this delays kubeadm init by ~15-30 s.
CLUSTER_PROBES = 3
CLUSTER_PROBE_SECONDS = 5

# Shared with the upgrade script (components/render/upgrade.py); needs log, fail, WORK_DIR and BIN_DIR.
VERIFIED_INSTALL = r"""
download() { curl -fsSL --retry 10 --retry-delay 3 --retry-connrefused "$@"; }

# Downloads URL to FILE and fails unless it matches the digest published at URL.sha256.
fetch_verified() {
  local url="$1" file="$2" expected actual
  download -o "${file}" "${url}"
  expected="$(download "${url}.sha256" | awk '{print $1}')"
  actual="$(sha256sum "${file}" | awk '{print $1}')"
  [[ "${expected}" =~ ^[0-9a-f]{64}$ ]] || fail "no sha256 digest at ${url}.sha256"
  [[ "${actual}" == "${expected}" ]] || fail "sha256 mismatch for ${url}: expected ${expected}, got ${actual}"
  log "verified ${url} (sha256 ${actual})"
}

install_binary() {
  fetch_verified "$1" "${WORK_DIR}/$2"
  install -m 0755 "${WORK_DIR}/$2" "${BIN_DIR}/$2"
}

"""

_LIBRARY = (
    r"""
log() { printf 'k8s-bootstrap: %s\n' "$*"; }
fail() { log "ERROR: $*" >&2; exit 1; }

touch "${LOG_FILE}"
chmod 0600 "${LOG_FILE}"
exec > >(tee -a "${LOG_FILE}") 2>&1
trap 'log "failed at line ${LINENO}"' ERR
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "${WORK_DIR}"' EXIT
install -d -m 0700 "${STATE_DIR}"

"""
    + VERIFIED_INSTALL
    + r"""
imds_get() {
  curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: ${IMDS_TOKEN}" "${IMDS}/meta-data/$1"
}

read_node_identity() {
  local mac
  IMDS_TOKEN="$(curl -fsS --retry 10 --retry-connrefused -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 3600' "${IMDS}/api/token")"
  NODE_NAME="$(imds_get local-hostname | awk '{print $1}')"
  NODE_IPV4="$(imds_get local-ipv4)"
  NODE_IPV6="$(imds_get ipv6 || true)"
  if [[ -z "${NODE_IPV6}" ]]; then
    mac="$(imds_get mac)"
    NODE_IPV6="$(imds_get "network/interfaces/macs/${mac}/ipv6s" | head -n 1 || true)"
  fi
  REGION="$(imds_get placement/region)"
  [[ -n "${NODE_IPV6}" ]] || fail "no IPv6 address on this instance; a dual-stack node needs one"
  export NODE_NAME NODE_IPV4 NODE_IPV6
  log "node ${NODE_NAME}: IPv4 ${NODE_IPV4}, IPv6 ${NODE_IPV6}, region ${REGION}"
}

configure_kernel() {
  modprobe overlay
  modprobe br_netfilter
  sysctl --system >/dev/null
}

configure_containerd() {
  mkdir -p /etc/containerd
  containerd config default >/etc/containerd/config.toml
  sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
  grep -q 'SystemdCgroup = true' /etc/containerd/config.toml || fail "containerd config has no SystemdCgroup option"
  systemctl enable containerd
  systemctl restart containerd
}

install_crictl() {
  fetch_verified "$1" "${WORK_DIR}/crictl.tar.gz"
  tar -xzf "${WORK_DIR}/crictl.tar.gz" -C "${BIN_DIR}" crictl
}

enable_kubelet() {
  systemctl daemon-reload
  systemctl enable kubelet
}

fetch_parameters() {
  python3 "${FETCH_SCRIPT}" "${REGION}" "${FETCH_MANIFEST}"
}

# The token never leaves root-only files: it is substituted into a 0600 copy of the template.
render_kubeadm_config() {
  local token
  token="$(cat "${TOKEN_FILE}")"
  [[ "${token}" =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] || fail "bootstrap token is not [a-z0-9]{6}.[a-z0-9]{16}"
  (umask 077 && BOOTSTRAP_TOKEN="${token}" envsubst "${PLACEHOLDERS}" <"${KUBEADM_TEMPLATE}" >"${KUBEADM_CONFIG}")
  # shellcheck disable=SC2016 # a literal ${ is what is looked for
  if grep -qF '${' "${KUBEADM_CONFIG}"; then
    fail "unsubstituted placeholder left in ${KUBEADM_CONFIG}"
  fi
}

forget_token() {
  rm -f "${KUBEADM_CONFIG}" "${TOKEN_FILE}"
}
"""
)

_CGROUP_V2_CHECK = r"""
if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
  fail "kubelet {version} refuses cgroup v1 (failCgroupV1): boot an image that mounts cgroup v2"
fi
"""

_CONTROL_PLANE_STEPS = r"""
log "kubeadm init"
kubeadm init --config "${KUBEADM_CONFIG}" --skip-token-print
install -d -m 0700 /root/.kube
install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config
forget_token
log "control plane initialised"
"""

_WORKER_STEPS = r"""
joined=false
for attempt in $(seq 1 "${JOIN_ATTEMPTS}"); do
  log "kubeadm join, try ${attempt}/${JOIN_ATTEMPTS}"
  if kubeadm join --config "${KUBEADM_CONFIG}"; then
    joined=true
    break
  fi
  kubeadm reset -f --cri-socket "${CRI_SOCKET}" || true
  sleep "${JOIN_RETRY_SECONDS}"
done
[[ "${joined}" == true ]] || fail "kubeadm join failed ${JOIN_ATTEMPTS} times"
forget_token
log "worker joined"
"""


_CONTROL_PLANE_JOIN_STEPS = r"""
joined=false
for attempt in $(seq 1 "${JOIN_ATTEMPTS}"); do
  log "kubeadm join --control-plane, try ${attempt}/${JOIN_ATTEMPTS}"
  if bash "${REMOVE_STALE_ETCD_MEMBER}" "${NODE_NAME}" "${ETCD_PEER_HOST}" "${ETCD_MEMBER_HOSTS}" &&
    kubeadm join --config "${KUBEADM_CONFIG}"; then
    joined=true
    break
  fi
  kubeadm reset -f --cri-socket "${CRI_SOCKET}" || true
  # reset empties /etc/kubernetes/pki: fetch the shared CAs and keys again before the next try.
  fetch_parameters
  sleep "${JOIN_RETRY_SECONDS}"
done
[[ "${joined}" == true ]] || fail "kubeadm join --control-plane failed ${JOIN_ATTEMPTS} times"
install -d -m 0700 /root/.kube
install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config
forget_token
log "control plane joined"
"""


# A cluster runs when the other control planes' etcd answers: then the stale member (of the instance
# this one replaces) is removed as well, and the node joins rather than start a second cluster.
_CLUSTER_PROBE = r"""
cluster_found=false
for probe in $(seq 1 "${CLUSTER_PROBES}"); do
  log "asking the other control planes' etcd for a running cluster, probe ${probe}/${CLUSTER_PROBES}"
  if bash "${REMOVE_STALE_ETCD_MEMBER}" "${NODE_NAME}" "${ETCD_PEER_HOST}" "${ETCD_MEMBER_HOSTS}"; then
    cluster_found=true
    break
  fi
  sleep "${CLUSTER_PROBE_SECONDS}"
done
"""

_COMMON_SETTINGS: Mapping[str, str] = {
    "LOG_FILE": LOG_FILE,
    "STATE_DIR": STATE_DIR,
    "BIN_DIR": BIN_DIR,
    "IMDS": IMDS,
    "FETCH_SCRIPT": FETCH_SCRIPT,
    "FETCH_MANIFEST": FETCH_MANIFEST,
    "TOKEN_FILE": TOKEN_FILE,
    "KUBEADM_TEMPLATE": KUBEADM_TEMPLATE,
    "KUBEADM_CONFIG": KUBEADM_CONFIG,
    "PLACEHOLDERS": " ".join(placeholder(variable) for variable in PLACEHOLDER_VARIABLES),
}


@dataclass(frozen=True)
class FetchEntry:
    """One SSM parameter the node copies to a file at boot."""

    parameter: str
    path: str
    mode: str


def control_plane_fetches(ssm_prefix: str) -> tuple[FetchEntry, ...]:
    pki = tuple(FetchEntry(f.parameter_name(ssm_prefix), f.node_path, f.mode) for f in CONTROL_PLANE_FILES)
    return (*pki, _token_fetch(ssm_prefix))


def worker_fetches(ssm_prefix: str) -> tuple[FetchEntry, ...]:
    return (_token_fetch(ssm_prefix),)


def _token_fetch(ssm_prefix: str) -> FetchEntry:
    return FetchEntry(bootstrap_token_parameter(ssm_prefix), TOKEN_FILE, "0600")


def fetch_manifest(entries: Sequence[FetchEntry]) -> str:
    # One entry a line: readable, and a third the size of indented JSON (user data is capped).
    rows = [json.dumps({"parameter": e.parameter, "path": e.path, "mode": e.mode}, sort_keys=True) for e in entries]
    return "[\n" + ",\n".join(rows) + "\n]\n"


def kubernetes_binary_url(release: Release, architecture: Architecture, binary: str) -> str:
    return f"https://dl.k8s.io/release/v{release.kubernetes_version}/bin/linux/{architecture.value}/{binary}"


def crictl_url(release: Release, architecture: Architecture) -> str:
    version = release.crictl_version
    return (
        f"https://github.com/kubernetes-sigs/cri-tools/releases/download/{version}/"
        f"crictl-{version}-linux-{architecture.value}.tar.gz"
    )


def control_plane_script(cluster: ClusterBootstrap, etcd_peers: Sequence[str] = ()) -> str:
    """Boot script of the first control plane: install, fetch PKI and token, kubeadm init.

    With `etcd_peers` (the other control planes' addresses, when there are several), it first asks
    their etcd: if a cluster answers, this node replaces the first control plane of a running
    cluster and joins it as the others do (`control_plane_join_script`) instead of starting a
    second cluster with `kubeadm init`."""
    if not etcd_peers:
        return _script(cluster, "control plane", _CONTROL_PLANE_STEPS, {})
    settings = {
        **_join_settings(cluster, etcd_peers),
        "KUBEADM_JOIN_TEMPLATE": KUBEADM_JOIN_TEMPLATE,
        "CLUSTER_PROBES": str(CLUSTER_PROBES),
        "CLUSTER_PROBE_SECONDS": str(CLUSTER_PROBE_SECONDS),
    }
    steps = (
        _join_environment(cluster)
        + _CLUSTER_PROBE
        + 'if [[ "${cluster_found}" == true ]]; then\n'
        + 'log "the other control planes run a cluster: joining it instead of kubeadm init"\n'
        + 'install -m 0600 "${KUBEADM_JOIN_TEMPLATE}" "${KUBEADM_TEMPLATE}"\n'
        + "render_kubeadm_config\n"
        + _CONTROL_PLANE_JOIN_STEPS
        + "else\n"
        + _CONTROL_PLANE_STEPS
        + "fi\n"
    )
    return _script(cluster, "control plane", steps, settings)


def worker_script(cluster: ClusterBootstrap) -> str:
    """Boot script of a worker: install, fetch the token, kubeadm join with retries."""
    settings = {
        "CRI_SOCKET": cluster.cri_socket,
        "JOIN_ATTEMPTS": str(JOIN_ATTEMPTS),
        "JOIN_RETRY_SECONDS": str(JOIN_RETRY_SECONDS),
    }
    return _script(cluster, "worker", _WORKER_STEPS, settings)


def etcd_image(release: Release) -> str:
    """The etcd image kubeadm of this release runs (its etcdctl removes stale members)."""
    return f"{IMAGE_REPOSITORY}/etcd:{release.kubeadm_image_tags.etcd}"


def url_host(address: str) -> str:
    """An address as the host of a URL: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


def control_plane_join_script(cluster: ClusterBootstrap, etcd_peers: Sequence[str]) -> str:
    """Boot script of another control plane: install, fetch PKI and token, remove a stale etcd member,
    kubeadm join --control-plane with retries.

    `etcd_peers`: the other control planes' addresses of the primary family (kubeadm's etcd listens on
    the advertise address), where a member that answers is found."""
    steps = _join_environment(cluster) + _CONTROL_PLANE_JOIN_STEPS
    return _script(cluster, "joining control plane", steps, _join_settings(cluster, etcd_peers))


def _join_settings(cluster: ClusterBootstrap, etcd_peers: Sequence[str]) -> dict[str, str]:
    if not etcd_peers:
        raise ValueError("a joining control plane needs at least one other control plane's etcd address")
    return {
        "CRI_SOCKET": cluster.cri_socket,
        "JOIN_ATTEMPTS": str(JOIN_ATTEMPTS),
        "JOIN_RETRY_SECONDS": str(JOIN_RETRY_SECONDS),
        "REMOVE_STALE_ETCD_MEMBER": REMOVE_STALE_ETCD_MEMBER_SCRIPT,
        "ETCD_MEMBER_HOSTS": ",".join(url_host(peer) for peer in etcd_peers),
        "ETCD_PKI": ETCD_PKI_DIR,
    }


def _join_environment(cluster: ClusterBootstrap) -> str:
    """After read_node_identity: the etcd image for etcdctl and the node's own etcd address, of the
    family etcd advertises."""
    primary = ADDRESS_VARIABLE[cluster.ip_families[0]]
    peer_host = placeholder(primary) if primary == NODE_IPV4 else "[" + placeholder(primary) + "]"
    return f"""
export ETCD_PKI
export ETCD_IMAGE={shlex.quote(etcd_image(cluster.release))}
ETCD_PEER_HOST="{peer_host}"
"""


def _script(cluster: ClusterBootstrap, role: str, role_steps: str, role_settings: Mapping[str, str]) -> str:
    return "".join(
        [
            "#!/bin/bash\n",
            f"# Boots a {role} node of cluster {cluster.cluster_name}; written by components/render, "
            "run once by cloud-init.\n",
            "set -Eeuo pipefail\numask 022\n\n",
            _settings({**_COMMON_SETTINGS, **role_settings}),
            _LIBRARY,
            _preflight(cluster.release),
            _install_steps(cluster.release, cluster.architecture),
            role_steps,
        ]
    )


def _settings(values: Mapping[str, str]) -> str:
    return "".join(_setting(name, value) for name, value in values.items())


def _setting(name: str, value: str) -> str:
    line = f"readonly {name}={shlex.quote(value)}\n"
    if "$" in value:
        # envsubst's SHELL-FORMAT: the names must reach it unexpanded.
        return "# shellcheck disable=SC2016\n" + line
    return line


def _preflight(release: Release) -> str:
    if not release.requires_cgroup_v2:
        return ""
    return _CGROUP_V2_CHECK.replace("{version}", release.kubernetes_version)


def _install_steps(release: Release, architecture: Architecture) -> str:
    lines = ["", "read_node_identity", "configure_kernel", "configure_containerd"]
    lines += [
        f"install_binary {shlex.quote(kubernetes_binary_url(release, architecture, binary))} {binary}"
        for binary in KUBERNETES_BINARIES
    ]
    lines += [f"install_crictl {shlex.quote(crictl_url(release, architecture))}", "enable_kubelet"]
    lines += ["fetch_parameters", "render_kubeadm_config"]
    return "\n".join(lines) + "\n"
