"""The boot scripts run for real in a sandbox, with curl, kubeadm and systemd stubbed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bootstrap_support import (
    documents,
    user_data,
    written,
)

from components.pki_layout import CONTROL_PLANE_FILES
from components.render import node_tools, scripts
from components.versions import release_for

# --- boot scripts run against stubs ----------------------------------------------------------

STUB_CURL = r'''#!/usr/bin/env python3
"""curl stand-in: IMDS answers, release downloads and their published digests."""
import gzip, hashlib, io, os, sys, tarfile

args = sys.argv[1:]
url = [a for a in args if a.startswith("http")][-1]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write("curl " + url + "\n")
META = {"local-hostname": "ip-10-0-1-5.ec2.internal", "local-ipv4": "10.0.1.5", "mac": "0a:1b:2c:3d:4e:5f",
        "network/interfaces/macs/0a:1b:2c:3d:4e:5f/ipv6s": "2600:1f18:10:20::5\n2600:1f18:10:20::6\n",
        "placement/region": "us-east-1"}


def payload(target):
    if not target.endswith(".tar.gz"):
        return ("binary " + target).encode()
    data = io.BytesIO()
    with gzip.GzipFile(fileobj=data, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        body = b"crictl binary"
        info = tarfile.TarInfo("crictl")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


if url.endswith("/api/token"):
    sys.stdout.write("imds-session-token")
elif "/meta-data/" in url:
    key = url.split("/meta-data/", 1)[1]
    if key not in META:
        sys.exit(22)
    sys.stdout.write(META[key])
elif url.endswith(".sha256"):
    target = url[: -len(".sha256")]
    digest = hashlib.sha256(payload(target)).hexdigest()
    if os.environ.get("STUB_BAD_DIGEST") and target.endswith("/" + os.environ["STUB_BAD_DIGEST"]):
        digest = "0" * 64
    # dl.k8s.io publishes the bare digest, cri-tools "digest  name": the script must read both.
    print(digest + ("  " + target.rsplit("/", 1)[1] if target.endswith(".tar.gz") else ""))
else:
    with open(args[args.index("-o") + 1], "wb") as out:
        out.write(payload(url))
'''

STUB_KUBEADM = r"""#!/bin/bash
echo "kubeadm $*" >>"${STUB_LOG}"
case "$1" in
  init)
    cp "$3" "${STUB_ROOT}/captured-kubeadm.yaml"
    mkdir -p "${STUB_ROOT}/etc/kubernetes"
    echo "admin kubeconfig" >"${STUB_ROOT}/etc/kubernetes/admin.conf" ;;
  join)
    cp "$3" "${STUB_ROOT}/captured-kubeadm.yaml"
    tries=$(( $(cat "${STUB_ROOT}/join-tries" 2>/dev/null || echo 0) + 1 ))
    echo "${tries}" >"${STUB_ROOT}/join-tries"
    [[ "${tries}" -ge "${STUB_JOIN_SUCCEEDS_AT}" ]] || exit 1
    if grep -q '^controlPlane:' "$3"; then
      mkdir -p "${STUB_ROOT}/etc/kubernetes"
      echo "admin kubeconfig" >"${STUB_ROOT}/etc/kubernetes/admin.conf"
    fi ;;
  reset)
    # As kubeadm reset does: the certificates directory is emptied.
    rm -rf "${STUB_ROOT}/etc/kubernetes/pki" ;;
esac
"""

# containerd's ctr: pulls nothing, runs the etcdctl of the "image" as the stub below.
STUB_CTR = r"""#!/bin/bash
echo "ctr $*" >>"${STUB_LOG}"
[[ "$3" == images ]] && exit 0
while [[ $# -gt 0 && "$1" != */etcdctl ]]; do shift; done
shift
exec "${STUB_ROOT}/stubs/etcdctl-in-image" "$@"
"""

STUB_ETCDCTL = r"""#!/bin/bash
echo "etcdctl $*" >>"${STUB_LOG}"
case "$*" in
  *"member list"*)
    [[ -z "${STUB_ETCD_DOWN:-}" ]] || { echo "dial tcp: connect: connection refused" >&2; exit 1; }
    cat "${STUB_MEMBERS}" ;;
  *"member remove"*)
    id="${*: -1}"
    sed -i "/^${id}, /d" "${STUB_MEMBERS}"
    echo "Member ${id} removed" ;;
esac
"""

STUB_FETCHER = r"""import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write("fetch-ssm-parameters\n")
with open(sys.argv[2]) as handle:
    for entry in json.load(handle):
        value = "abcdef.0123456789abcdef" if entry["parameter"].endswith("/bootstrap/token") else "PEM " + entry["path"]
        real = os.path.join(os.environ.get("STUB_PKI_DIR", "/nonexistent"), entry["path"].split("/pki/")[-1])
        if "/pki/" in entry["path"] and os.path.isfile(real):
            value = open(real).read().strip()
        os.makedirs(os.path.dirname(entry["path"]), exist_ok=True)
        with open(entry["path"], "w") as out:
            out.write(value + "\n")
"""

SELF_SIGNED_CA = ("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=etcd-ca", "-days", "1")
SANDBOXED_PREFIXES = ("/etc/", "/var/log/", "/usr/local/", "/root/", "/sys/fs/cgroup/")


def run_boot_script(root: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Lays the user data's files out below `root` and runs its boot script with stub commands."""

    def sandboxed(content: str) -> str:
        for prefix in SANDBOXED_PREFIXES:
            content = content.replace(prefix, f"{root}{prefix}")
        return content

    for path, entry in written(text).items():
        target = Path(sandboxed(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STUB_FETCHER if path == scripts.FETCH_SCRIPT else sandboxed(entry["content"]))
    stubs = root / "stubs"
    stubs.mkdir()
    commands = {"curl": STUB_CURL, "kubeadm": STUB_KUBEADM, "containerd": "#!/bin/sh\necho '  SystemdCgroup = false'\n"}
    commands |= {"ctr": STUB_CTR, "etcdctl-in-image": STUB_ETCDCTL}
    commands |= dict.fromkeys(["modprobe", "sysctl", "systemctl"], '#!/bin/sh\necho "$0 $*" >>"${STUB_LOG}"\n')
    commands["sleep"] = "#!/bin/sh\n"
    for name, body in commands.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    for directory in ["etc", "var/log", "usr/local/bin", "root", "sys/fs/cgroup"]:  # present on any Ubuntu
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    environment = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "STUB_LOG": str(root / "calls.log"),
        "STUB_ROOT": str(root),
        "STUB_JOIN_SUCCEEDS_AT": "1",
        **env,
    }
    boot = Path(sandboxed(scripts.BOOT_SCRIPT))
    return subprocess.run(["bash", str(boot)], check=False, env=environment, capture_output=True, text=True, timeout=60)


def needs_boot_tools() -> None:
    for tool in ["bash", "envsubst", "tar", "sha256sum", "python3"]:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


@pytest.mark.parametrize("minor", ["1.21", "1.35"])
def test_worker_boot_installs_verified_binaries_and_retries_join_until_it_succeeds(tmp_path: Path, minor: str) -> None:
    needs_boot_tools()
    release = release_for(minor)
    result = run_boot_script(tmp_path, user_data("worker", release), STUB_JOIN_SUCCEEDS_AT="3")
    assert result.returncode == 0, result.stdout + result.stderr
    for binary in ["kubeadm", "kubelet", "kubectl"]:
        url = f"https://dl.k8s.io/release/v{release.kubernetes_version}/bin/linux/amd64/{binary}"
        assert (tmp_path / "usr/local/bin" / binary).read_text() == f"binary {url}"
    assert (tmp_path / "usr/local/bin/crictl").read_bytes() == b"crictl binary"
    assert "SystemdCgroup = true" in (tmp_path / "etc/containerd/config.toml").read_text()
    calls = (tmp_path / "calls.log").read_text()
    reset = "kubeadm reset -f --cri-socket " + (
        "/run/containerd/containerd.sock" if minor == "1.21" else "unix:///run/containerd/containerd.sock"
    )
    assert calls.count(reset) == 2 and calls.count("kubeadm join --config") == 3
    config = documents((tmp_path / "captured-kubeadm.yaml").read_text())["JoinConfiguration"]
    assert config["nodeRegistration"]["name"] == "ip-10-0-1-5.ec2.internal"
    assert config["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    if minor == "1.35":  # dual --node-ip; the IPv6 came from the per-MAC fallback, first address only
        assert config["nodeRegistration"]["kubeletExtraArgs"][1] == {
            "name": "node-ip",
            "value": "10.0.1.5,2600:1f18:10:20::5",
        }
    assert not (tmp_path / "etc/k8s-bootstrap/bootstrap-token").exists()
    assert not (tmp_path / "etc/k8s-bootstrap/kubeadm.yaml").exists()
    log = tmp_path / "var/log/k8s-bootstrap.log"
    assert log.stat().st_mode & 0o777 == 0o600
    assert "worker joined" in log.read_text() and "abcdef.0123456789abcdef" not in log.read_text()


def test_worker_boot_stops_on_a_digest_mismatch(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("worker", release_for("1.29")), STUB_BAD_DIGEST="kubelet")
    assert result.returncode != 0
    assert "sha256 mismatch for https://dl.k8s.io/release/v1.29.15/bin/linux/amd64/kubelet" in result.stdout
    assert (tmp_path / "usr/local/bin/kubeadm").exists() and not (tmp_path / "usr/local/bin/kubelet").exists()
    assert "kubeadm join" not in (tmp_path / "calls.log").read_text()


def test_worker_boot_gives_up_after_the_bounded_join_retries(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("worker", release_for("1.29")), STUB_JOIN_SUCCEEDS_AT="1000")
    assert result.returncode != 0
    assert "kubeadm join failed 40 times" in result.stdout
    assert (tmp_path / "join-tries").read_text().strip() == "40"


def test_control_plane_boot_fetches_pki_runs_init_and_writes_root_kubeconfig(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("control-plane", release_for("1.35")))
    assert result.returncode == 0, result.stdout + result.stderr
    for entry in CONTROL_PLANE_FILES:
        assert (tmp_path / "etc/kubernetes/pki" / entry.relative_path).is_file()
    assert "kubeadm init --config" in (tmp_path / "calls.log").read_text()
    assert "--skip-token-print" in (tmp_path / "calls.log").read_text()
    config = documents((tmp_path / "captured-kubeadm.yaml").read_text())["InitConfiguration"]
    assert config["bootstrapTokens"][0]["token"] == "abcdef.0123456789abcdef"
    assert config["localAPIEndpoint"]["advertiseAddress"] == "10.0.1.5"
    kubeconfig = tmp_path / "root/.kube/config"
    assert kubeconfig.read_text() == "admin kubeconfig\n" and kubeconfig.stat().st_mode & 0o777 == 0o600


def test_joining_control_plane_removes_its_stale_member_then_retries_join_with_the_pki_fetched_again(
    tmp_path: Path,
) -> None:
    needs_boot_tools()
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    ca = etcd_ca(tmp_path / "ssm") / "etcd"
    members = tmp_path / "members"
    members.write_text(
        "8e9e05c52164694d, started, ip-10-0-0-10.ec2.internal, https://10.0.0.10:2380, https://10.0.0.10:2379, false\n"
        "fd422379fda50e48, started, ip-10-0-1-5.ec2.internal, https://10.0.1.5:2380, https://10.0.1.5:2379, false\n"
    )
    root = tmp_path / "node"
    root.mkdir()
    result = run_boot_script(
        root,
        user_data("join-control-plane", release_for("1.35")),
        STUB_JOIN_SUCCEEDS_AT="2",
        STUB_PKI_DIR=str(tmp_path / "ssm"),
        STUB_MEMBERS=str(members),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (root / "calls.log").read_text().splitlines()

    def step(line: str) -> str:
        if line.startswith("etcdctl "):
            return "etcdctl " + line.split(" --command-timeout=15s ")[1]
        return line.split(" --", maxsplit=1)[0] if line.startswith("kubeadm") else line

    steps = [
        step(line)
        for line in calls
        if line.startswith(("kubeadm", "fetch", "etcdctl", "ctr --namespace k8s.io images"))
    ]
    image = "registry.k8s.io/etcd:3.6.6-0"  # kubeadm 1.35.3's own etcd (release_facts.KUBEADM_IMAGE_TAGS)
    assert steps == [
        "fetch-ssm-parameters",
        f"ctr --namespace k8s.io images pull {image}",
        "etcdctl member list --write-out=simple",
        f"ctr --namespace k8s.io images pull {image}",
        "etcdctl member remove fd422379fda50e48",
        "kubeadm join",  # fails: the first control plane does not answer yet
        "kubeadm reset -f",
        "fetch-ssm-parameters",  # reset emptied /etc/kubernetes/pki
        f"ctr --namespace k8s.io images pull {image}",
        "etcdctl member list --write-out=simple",  # nothing stale any more
        "kubeadm join",
    ]
    etcdctl = [line for line in calls if line.startswith("etcdctl ")]
    assert all(" --endpoints=https://10.0.0.10:2379,https://10.0.32.10:2379 " in f" {line} " for line in etcdctl)
    assert (root / "etc/kubernetes/pki/etcd/ca.key").read_text() == (ca / "ca.key").read_text()
    config = documents((root / "captured-kubeadm.yaml").read_text())["JoinConfiguration"]
    assert config["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.0.1.5", "bindPort": 6443}}
    assert config["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    assert (root / "root/.kube/config").read_text() == "admin kubeconfig\n"
    log = (root / "var/log/k8s-bootstrap.log").read_text()
    assert "kubeadm join --control-plane, try 2/40" in log and "control plane joined" in log
    assert "removing stale member fd422379fda50e48: fd422379fda50e48, started, ip-10-0-1-5.ec2.internal" in log
    assert not (root / "etc/k8s-bootstrap/bootstrap-token").exists()


def etcd_ca(directory: Path) -> Path:
    """An etcd CA where the stub fetcher finds it (as if in SSM)."""
    ca = directory / "etcd"
    ca.mkdir(parents=True)
    subprocess.run(
        [*SELF_SIGNED_CA, "-keyout", str(ca / "ca.key"), "-out", str(ca / "ca.crt")], check=True, capture_output=True
    )
    return directory


@pytest.mark.parametrize("cluster_runs", [False, True], ids=["new-cluster", "replacement"])
def test_the_first_of_three_control_planes_inits_a_new_cluster_or_joins_a_running_one(
    tmp_path: Path, cluster_runs: bool
) -> None:
    needs_boot_tools()
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    members = tmp_path / "members"
    members.write_text(
        "91bc3c398fb3c146, started, ip-10-0-32-10.ec2.internal, https://10.0.32.10:2380, , false\n"
        "fd422379fda50e48, started, ip-10-0-1-5.ec2.internal, https://10.0.1.5:2380, , false\n"
    )
    root = tmp_path / "node"
    root.mkdir()
    result = run_boot_script(
        root,
        user_data("first-of-three-control-planes", release_for("1.35")),
        STUB_PKI_DIR=str(etcd_ca(tmp_path / "ssm")),
        STUB_MEMBERS=str(members),
        **({} if cluster_runs else {"STUB_ETCD_DOWN": "1"}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (root / "calls.log").read_text()
    etcdctl = "\n".join(line for line in calls.splitlines() if line.startswith("etcdctl "))
    log = (root / "var/log/k8s-bootstrap.log").read_text()
    documents_ = documents((root / "captured-kubeadm.yaml").read_text())
    if not cluster_runs:
        # At the cluster's creation the others wait for this one: three probes, then kubeadm init.
        assert etcdctl.count("member list") == 3 and "member remove" not in etcdctl
        assert "kubeadm init --config" in calls and "kubeadm join" not in calls
        assert "InitConfiguration" in documents_
        assert "probe 3/3" in log and "control plane initialised" in log
        return
    # A replacement: the others' etcd answers; the old member goes, the node joins (no second cluster).
    assert "kubeadm init" not in calls and calls.count("kubeadm join --config") == 1
    assert etcdctl.count("member list") == 2 and etcdctl.count("member remove fd422379fda50e48") == 1
    join = documents_["JoinConfiguration"]
    assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.1.5"
    assert join["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    assert "probe 1/3" in log and "probe 2/3" not in log
    assert "joining it instead of kubeadm init" in log and "control plane joined" in log


def test_fetch_script_writes_each_parameter_with_its_mode_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real fetcher against a fake IMDS and a fake boto3 (SSM answers after two refusals)."""
    imds = {
        "/latest/api/token": b"t",
        "/latest/meta-data/iam/security-credentials/": b"node-role\n",
        "/latest/meta-data/iam/security-credentials/node-role": (
            b'{"AccessKeyId": "AK", "SecretAccessKey": "SK", "Token": "ST"}'
        ),
    }

    class Response:
        def __init__(self, request: Any) -> None:
            self.body = imds[request.full_url.split("169.254.169.254", 1)[1]]

        def __enter__(self) -> Response:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def read(self) -> bytes:
            return self.body

    refusals = {"count": 0}
    values = {"/p/ca.key": "-----BEGIN SECRET-----\nkey\n", "/p/token": "abcdef.0123456789abcdef"}

    class Ssm:
        def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:
            assert WithDecryption is True
            if refusals["count"] < 2:
                refusals["count"] += 1
                raise RuntimeError("ParameterNotFound")
            return {"Parameter": {"Value": values[Name]}}

    clients: list[dict[str, Any]] = []

    class Boto3:
        @staticmethod
        def client(service: str, **kwargs: Any) -> Ssm:
            clients.append({"service": service, **kwargs})
            return Ssm()

    monkeypatch.setitem(__import__("sys").modules, "boto3", Boto3)
    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout: Response(request))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            [
                {"parameter": "/p/ca.key", "path": str(tmp_path / "pki/etcd/ca.key"), "mode": "0600"},
                {"parameter": "/p/token", "path": str(tmp_path / "token"), "mode": "0640"},
            ]
        )
    )
    namespace: dict[str, Any] = {"__name__": "fetcher"}
    exec(compile(node_tools.FETCH_SSM_PARAMETERS, "fetch-ssm-parameters.py", "exec"), namespace)
    namespace["main"]("eu-west-1", str(manifest))
    assert (tmp_path / "pki/etcd/ca.key").read_text() == "-----BEGIN SECRET-----\nkey\n"
    assert (tmp_path / "pki/etcd/ca.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "token").read_text() == "abcdef.0123456789abcdef\n"
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o640
    assert refusals["count"] == 2 and len(clients) == 4
    assert clients[0] == {
        "service": "ssm",
        "region_name": "eu-west-1",
        "aws_access_key_id": "AK",
        "aws_secret_access_key": "SK",
        "aws_session_token": "ST",
    }
    output = capsys.readouterr()
    assert "try 2/90: RuntimeError: ParameterNotFound" in output.err
    assert "key" not in output.out.replace("ca.key", "") and "abcdef" not in output.out + output.err
