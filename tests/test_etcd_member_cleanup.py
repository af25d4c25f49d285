"""remove-stale-etcd-member.sh, run for real against a stub etcdctl: a control plane that replaces one
removes the etcd member the old instance left (same name, or same peer URL), and nothing else.

The stub checks what a real etcd would: the client certificate the script makes must chain to the
etcd CA it was given (`openssl verify`). A real three-member etcd is the e2e tier's (phase 2).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.render import node_tools

NODE = "ip-10-0-16-10.ec2.internal"
OTHERS = "10.0.0.10,10.0.32.10"
ENDPOINTS = "https://10.0.0.10:2379,https://10.0.32.10:2379"

# `etcdctl member list --write-out=simple` of a three-member cluster whose second member's instance
# was replaced: ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER.
HEALTHY = [
    "8e9e05c52164694d, started, ip-10-0-0-10.ec2.internal, https://10.0.0.10:2380, https://10.0.0.10:2379, false",
    "91bc3c398fb3c146, started, ip-10-0-32-10.ec2.internal, https://10.0.32.10:2380, https://10.0.32.10:2379, false",
]
STALE = "fd422379fda50e48, started, ip-10-0-16-10.ec2.internal, https://10.0.16.10:2380, https://10.0.16.10:2379, false"
# A member a failed join of this node added and never started: no name yet, this node's peer URL.
UNSTARTED = "2a8f7a4dc1b3e95c, unstarted, , https://10.0.16.10:2380, , false"
# Another member whose name and peer URL merely start like this node's: only exact ones match.
LOOKALIKE = (
    "0c1d2e3f40516273, started, ip-10-0-16-10.ec2.internal.old, https://10.0.16.100:2380,https://10.0.16.10:23800, "
    ", false"
)

STUB_ETCDCTL = r"""#!/bin/bash
echo "etcdctl $*" >>"${STUB_LOG}"
for arg in "$@"; do
  case "${arg}" in
    --cacert=*) cacert="${arg#--cacert=}" ;;
    --cert=*) cert="${arg#--cert=}" ;;
    --key=*) key="${arg#--key=}" ;;
  esac
done
# What etcd's TLS would refuse: a client certificate the CA did not sign, or a key that does not fit it.
openssl verify -CAfile "${cacert}" -purpose sslclient "${cert}" >/dev/null || exit 1
[[ "$(openssl x509 -in "${cert}" -noout -pubkey)" == "$(openssl pkey -in "${key}" -pubout)" ]] || exit 1
case "$*" in
  *"member list"*)
    [[ -z "${STUB_ETCD_DOWN:-}" ]] || { echo "context deadline exceeded" >&2; exit 1; }
    cat "${STUB_MEMBERS}" ;;
  *"member remove"*)
    id="${*: -1}"
    echo "${id}" >>"${STUB_REMOVED}"
    echo "Member ${id} removed from cluster" ;;
esac
"""


def needs_tools() -> None:
    for tool in ("bash", "openssl", "awk"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


@pytest.fixture
def etcd_pki(tmp_path: Path) -> Path:
    """An etcd CA like the one ClusterPki makes and the node fetches to /etc/kubernetes/pki/etcd."""
    needs_tools()
    pki = tmp_path / "pki" / "etcd"
    pki.mkdir(parents=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=etcd-ca", "-days", "1"),
            *("-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt")),
            *("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        ],
        check=True,
        capture_output=True,
    )
    return pki


def run_cleanup(
    tmp_path: Path, pki: Path, members: list[str], *args: str, down: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str], list[str]]:
    """Runs the script as the boot script does; returns the result, the removed IDs and the etcdctl calls."""
    script = tmp_path / "remove-stale-etcd-member.sh"
    script.write_text(node_tools.REMOVE_STALE_ETCD_MEMBER)
    stub = tmp_path / "etcdctl"
    stub.write_text(STUB_ETCDCTL)
    stub.chmod(0o755)
    (tmp_path / "members").write_text("".join(f"{line}\n" for line in members))
    env = {
        "PATH": "/usr/bin:/bin",
        "ETCDCTL": str(stub),
        "ETCD_PKI": str(pki),
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_MEMBERS": str(tmp_path / "members"),
        "STUB_REMOVED": str(tmp_path / "removed"),
        **({"STUB_ETCD_DOWN": "1"} if down else {}),
    }
    result = subprocess.run(
        ["bash", str(script), *(args or (NODE, "10.0.16.10", OTHERS))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    removed = (tmp_path / "removed").read_text().split() if (tmp_path / "removed").exists() else []
    calls = (tmp_path / "calls.log").read_text().splitlines() if (tmp_path / "calls.log").exists() else []
    return result, removed, calls


@pytest.mark.parametrize(
    ("members", "removed"),
    [
        ([*HEALTHY, STALE], ["fd422379fda50e48"]),
        ([*HEALTHY, UNSTARTED], ["2a8f7a4dc1b3e95c"]),
        ([HEALTHY[0], STALE, UNSTARTED, HEALTHY[1]], ["fd422379fda50e48", "2a8f7a4dc1b3e95c"]),
        ([*HEALTHY, LOOKALIKE], []),
        (HEALTHY, []),
    ],
    ids=["replaced-member", "failed-join-member", "both", "lookalike-address-kept", "first-join"],
)
def test_only_this_nodes_stale_member_is_removed(
    tmp_path: Path, etcd_pki: Path, members: list[str], removed: list[str]
) -> None:
    result, gone, calls = run_cleanup(tmp_path, etcd_pki, members)
    assert result.returncode == 0, result.stdout + result.stderr
    assert gone == removed
    assert len(calls) == 1 + len(removed)
    common = f"--endpoints={ENDPOINTS} --cacert={etcd_pki}/ca.crt"
    assert all(call.startswith(f"etcdctl {common} --cert=") for call in calls)
    assert calls[0].endswith("--dial-timeout=5s --command-timeout=15s member list --write-out=simple")
    assert [call.rsplit(" ", 3)[1:] for call in calls[1:]] == [["member", "remove", member] for member in removed]
    if removed:
        assert f"removing stale member {removed[0]}: {next(m for m in members if m.startswith(removed[0]))}" in (
            result.stdout
        )
    else:
        assert f"no member named {NODE} or at https://10.0.16.10:2380: nothing to remove" in result.stdout
    assert not list(etcd_pki.glob("*.srl")), "the CA's directory is left as fetched"


def test_an_ipv6_cluster_matches_the_bracketed_peer_url(tmp_path: Path, etcd_pki: Path) -> None:
    stale_v6 = "3b2a19087f6e5d4c, started, ip-10-0-16-10.ec2.internal, https://[2600:1f18::a]:2380, , false"
    renamed = "4c3b2a19087f6e5d, started, other-name, https://[2600:1f18::a]:2380, , false"
    result, gone, calls = run_cleanup(
        tmp_path,
        etcd_pki,
        [stale_v6.replace("ip-10-0-16-10.ec2.internal", "ip-10-0-0-99.ec2.internal"), renamed],
        "ip-10-0-16-11.ec2.internal",
        "[2600:1f18::a]",
        "[2600:1f18:0:1::a],[2600:1f18:0:2::a]",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert gone == ["3b2a19087f6e5d4c", "4c3b2a19087f6e5d"]  # both at this node's peer URL
    assert "--endpoints=https://[2600:1f18:0:1::a]:2379,https://[2600:1f18:0:2::a]:2379 " in calls[0]


def test_no_member_answers_is_a_failure_to_retry(tmp_path: Path, etcd_pki: Path) -> None:
    result, gone, calls = run_cleanup(tmp_path, etcd_pki, [*HEALTHY, STALE], down=True)
    assert result.returncode != 0 and gone == []
    assert len(calls) == 1 and "context deadline exceeded" in result.stderr


def test_a_wrong_ca_is_a_failure_not_a_removal(tmp_path: Path, etcd_pki: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "ca.crt").write_text((etcd_pki / "ca.crt").read_text())
    subprocess.run(["openssl", "genrsa", "-out", str(other / "ca.key"), "2048"], check=True, capture_output=True)
    result, gone, _ = run_cleanup(tmp_path, other, [*HEALTHY, STALE])
    assert result.returncode != 0 and gone == []


@pytest.mark.parametrize("args", [(), (NODE,), (NODE, "10.0.16.10", "")], ids=["none", "one", "empty-hosts"])
def test_usage(tmp_path: Path, etcd_pki: Path, args: tuple[str, ...]) -> None:
    script = tmp_path / "remove-stale-etcd-member.sh"
    script.write_text(node_tools.REMOVE_STALE_ETCD_MEMBER)
    result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_without_etcdctl_it_runs_the_etcd_image_of_the_release_through_ctr(tmp_path: Path, etcd_pki: Path) -> None:
    """On a node there is no etcdctl: the etcd image kubeadm runs (registry.k8s.io/etcd:<kubeadm's tag>)
    brings it, run by containerd's ctr on the host network with the CA and the client files mounted."""
    stub_ctr = tmp_path / "bin" / "ctr"
    stub_ctr.parent.mkdir()
    stub_ctr.write_text('#!/bin/bash\necho "ctr $*" >>"${STUB_LOG}"\n[[ "$3" == images ]] || cat "${STUB_MEMBERS}"\n')
    stub_ctr.chmod(0o755)
    script = tmp_path / "remove-stale-etcd-member.sh"
    script.write_text(node_tools.REMOVE_STALE_ETCD_MEMBER)
    (tmp_path / "members").write_text("\n".join(HEALTHY) + "\n")
    env = {
        "PATH": f"{stub_ctr.parent}:/usr/bin:/bin",
        "ETCD_PKI": str(etcd_pki),
        "ETCD_IMAGE": "registry.k8s.io/etcd:3.6.6-0",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_MEMBERS": str(tmp_path / "members"),
    }
    result = subprocess.run(
        ["bash", str(script), NODE, "10.0.16.10", OTHERS], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pull, run = (tmp_path / "calls.log").read_text().splitlines()
    assert pull == "ctr --namespace k8s.io images pull registry.k8s.io/etcd:3.6.6-0"
    assert run.startswith(
        f"ctr --namespace k8s.io run --rm --net-host --mount type=bind,src={etcd_pki},dst={etcd_pki},options=rbind:ro "
    )
    assert " registry.k8s.io/etcd:3.6.6-0 etcdctl-" in run
    assert f" /usr/local/bin/etcdctl --endpoints={ENDPOINTS} " in run
    # Without an image there is nothing to run etcdctl from: a clear error, not a silent success.
    del env["ETCD_IMAGE"]
    missing = subprocess.run(
        ["bash", str(script), NODE, "10.0.16.10", OTHERS], env=env, capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0 and "ETCD_IMAGE or ETCDCTL must be set" in missing.stderr


def test_shellcheck_passes_on_the_cleanup_script(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed")
    path = tmp_path / "remove-stale-etcd-member.sh"
    path.write_text(node_tools.REMOVE_STALE_ETCD_MEMBER)
    result = subprocess.run([shellcheck, "-S", "style", "-s", "bash", str(path)], check=False, capture_output=True)
    assert result.returncode == 0, result.stdout.decode()
