"""cloud-init user data of both node roles, checked statically and by shellcheck / cloud-init."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from bootstrap_support import (
    CA_HASH,
    PREFIX,
    ROLES,
    SANS,
    TOKEN_SHAPE,
    V6_FIRST,
    make_cluster,
    rows,
    user_data,
    written,
)

from components.pki_layout import CONTROL_PLANE_FILES
from components.render import node_tools, scripts
from components.render.cloudinit import (
    render_control_plane_user_data,
    render_worker_user_data,
    wait_for_public_ipv4_command,
)
from components.render.kubeadm import (
    render_init_configuration,
    render_join_configuration,
)
from components.render.user_data_encoding import EC2_USER_DATA_LIMIT_BYTES, encode_user_data, received_bytes
from components.settings import Architecture
from components.versions import RELEASES, Release, release_for

# --- cloud-init user data --------------------------------------------------------------------

# Every script variant: role x release, both architectures and primaries spread over the rows.
script_variants = pytest.mark.parametrize(
    ("role", "release", "arch"),
    [(role, release, list(Architecture)[i % 2]) for role in ROLES for i, release in enumerate(RELEASES)],
    ids=lambda value: value.minor if isinstance(value, Release) else getattr(value, "value", str(value)),
)


@rows
@pytest.mark.parametrize("role", ROLES)
def test_user_data_is_cloud_config_without_secrets(role: str, release: Release) -> None:
    text = user_data(role, release)
    assert text.startswith("#cloud-config\n")
    # What EC2 receives, the gzip-compressed text, leaves a quarter of its 16 KB free.
    assert len(received_bytes(encode_user_data(text, role))) <= EC2_USER_DATA_LIMIT_BYTES * 3 // 4
    assert "PRIVATE KEY" not in text
    assert TOKEN_SHAPE.search(text) is None
    config = yaml.safe_load(text)
    assert {
        "containerd",
        "conntrack",
        "socat",
        "ethtool",
        "curl",
        "ca-certificates",
        "python3-boto3",
        "gettext-base",
    } <= set(config["packages"])
    assert config["runcmd"] == [["bash", "/usr/local/lib/k8s-bootstrap/bootstrap.sh"]]
    assert text == user_data(role, release)


@rows
@pytest.mark.parametrize("arch", list(Architecture), ids=lambda a: a.value)
def test_boot_script_installs_exact_binaries_checked_against_published_digests(
    release: Release, arch: Architecture
) -> None:
    script = written(user_data("worker", release, arch=arch))[scripts.BOOT_SCRIPT]["content"]
    base = f"https://dl.k8s.io/release/v{release.kubernetes_version}/bin/linux/{arch.value}"
    for binary in ["kubeadm", "kubelet", "kubectl"]:
        assert f"install_binary {base}/{binary} {binary}\n" in script
    crictl = (
        f"https://github.com/kubernetes-sigs/cri-tools/releases/download/{release.crictl_version}/"
        f"crictl-{release.crictl_version}-linux-{arch.value}.tar.gz"
    )
    assert f"install_crictl {crictl}\n" in script
    assert 'expected="$(download "${url}.sha256" | awk \'{print $1}\')"' in script
    assert 'actual="$(sha256sum "${file}" | awk \'{print $1}\')"' in script
    assert '[[ "${actual}" == "${expected}" ]] || fail' in script
    assert script.startswith("#!/bin/bash\n") and "set -Eeuo pipefail\n" in script
    assert "readonly LOG_FILE=/var/log/k8s-bootstrap.log\n" in script
    assert ("/sys/fs/cgroup/cgroup.controllers" in script) == (release.version.minor >= 35)


@rows
def test_control_plane_fetches_every_pki_file_and_the_token_then_runs_init(release: Release) -> None:
    files = written(user_data("control-plane", release))
    manifest = json.loads(files["/etc/k8s-bootstrap/ssm-parameters.json"]["content"])
    expected = [
        {
            "parameter": f"{PREFIX}/pki/{f.relative_path}",
            "path": f"/etc/kubernetes/pki/{f.relative_path}",
            "mode": "0600" if f.secret else "0644",
        }
        for f in CONTROL_PLANE_FILES
    ] + [{"parameter": f"{PREFIX}/bootstrap/token", "path": "/etc/k8s-bootstrap/bootstrap-token", "mode": "0600"}]
    assert manifest == expected
    assert {"/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/sa.key"} <= {e["path"] for e in manifest}
    template = files["/etc/k8s-bootstrap/kubeadm.yaml.tmpl"]
    assert template["permissions"] == "0600"
    assert template["content"] == render_init_configuration(make_cluster(release), SANS)
    script = files[scripts.BOOT_SCRIPT]["content"]
    assert 'kubeadm init --config "${KUBEADM_CONFIG}" --skip-token-print\n' in script
    assert "install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config\n" in script
    assert "kubeadm join" not in script


@rows
def test_worker_fetches_only_the_token_and_retries_join(release: Release) -> None:
    files = written(user_data("worker", release))
    manifest = json.loads(files["/etc/k8s-bootstrap/ssm-parameters.json"]["content"])
    assert manifest == [
        {"parameter": f"{PREFIX}/bootstrap/token", "path": "/etc/k8s-bootstrap/bootstrap-token", "mode": "0600"}
    ]
    assert files["/etc/k8s-bootstrap/kubeadm.yaml.tmpl"]["content"] == render_join_configuration(
        make_cluster(release), CA_HASH
    )
    script = files[scripts.BOOT_SCRIPT]["content"]
    assert "readonly JOIN_ATTEMPTS=40\n" in script
    assert 'for attempt in $(seq 1 "${JOIN_ATTEMPTS}"); do' in script
    assert 'kubeadm reset -f --cri-socket "${CRI_SOCKET}" || true' in script
    assert "kubeadm init" not in script


@rows
def test_units_and_kernel_settings_match_kubeadm_packaging(release: Release) -> None:
    files = written(user_data("worker", release))
    assert files["/etc/modules-load.d/kubernetes.conf"]["content"].split() == ["overlay", "br_netfilter"]
    sysctls = dict(line.split(" = ") for line in files["/etc/sysctl.d/99-kubernetes.conf"]["content"].splitlines())
    assert sysctls == {
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": "1",
    }
    drop_in = files["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"]["content"]
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n" in drop_in
    assert drop_in.endswith(
        "ExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS "
        "$KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"
    )
    assert "ExecStart=/usr/local/bin/kubelet\n" in files["/etc/systemd/system/kubelet.service"]["content"]


def test_fetch_script_runs_on_ubuntu_20_04_python() -> None:
    source = node_tools.FETCH_SSM_PARAMETERS
    ast.parse(source, feature_version=(3, 8))
    assert "WithDecryption=True" in source
    assert "X-aws-ec2-metadata-token" in source
    assert re.search(r"print\([^)]*\bvalue\b", source) is None


@pytest.mark.parametrize("role", ROLES)
def test_boot_script_parses_in_bash(role: str) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    for release in RELEASES:
        script = written(user_data(role, release))[scripts.BOOT_SCRIPT]["content"]
        subprocess.run([bash, "-n"], input=script, text=True, check=True)


@script_variants
def test_shellcheck_passes_on_every_boot_script(
    tmp_path: Path, role: str, release: Release, arch: Architecture
) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed")
    path = tmp_path / "bootstrap.sh"
    path.write_text(written(user_data(role, release, arch=arch))[scripts.BOOT_SCRIPT]["content"])
    result = subprocess.run([shellcheck, "-S", "warning", "-s", "bash", str(path)], check=False, capture_output=True)
    assert result.returncode == 0, result.stdout.decode()


@rows
@pytest.mark.parametrize("role", ROLES)
def test_cloud_init_schema_accepts_user_data(tmp_path: Path, role: str, release: Release) -> None:
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("cloud-init not installed")
    path = tmp_path / "user-data"
    path.write_text(user_data(role, release, V6_FIRST, Architecture.ARM64))
    result = subprocess.run(
        [cloud_init, "schema", "--config-file", str(path)], check=False, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid cloud-config" in output
    assert "deprecat" not in output.lower(), output


def run_with_stub_curl(stub_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    """The bootcmd's shell loop with `stub_dir/curl` standing in for IMDS."""
    return subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "PATH": f"{stub_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_control_plane_waits_for_its_elastic_ip_before_any_download(tmp_path: Path) -> None:
    cluster = make_cluster(release_for("1.35"))
    text = render_control_plane_user_data(cluster, SANS, elastic_ip="198.51.100.7")
    (command,) = yaml.safe_load(text)["bootcmd"]
    assert command[:3] == ["cloud-init-per", "once", "wait-for-elastic-ip"]
    assert "bootcmd" not in yaml.safe_load(render_worker_user_data(cluster, CA_HASH))
    # Run the loop with a stub curl: IMDS first answers the old automatic address, then the EIP.
    calls = tmp_path / "calls"
    stub = tmp_path / "curl"
    stub.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {calls}\n'
        'case "$*" in *api/token*) echo token ;; *public-ipv4*) '
        f'if [ "$(grep -c public-ipv4 {calls})" -ge 3 ]; then echo 198.51.100.7; else echo 3.3.3.3; fi ;; esac\n'
    )
    stub.chmod(0o755)
    script = wait_for_public_ipv4_command("198.51.100.7", tries=10, interval_seconds=0)[-1]
    done = run_with_stub_curl(tmp_path, script)
    assert done.returncode == 0
    assert calls.read_text().count("public-ipv4") == 3, "stops polling once the Elastic IP is there"
    assert "X-aws-ec2-metadata-token: token" in calls.read_text()


@pytest.mark.parametrize(
    ("imds", "token_requests", "polls"),
    [
        # IMDS answers, but with the automatic address for good: every try polls once.
        ('case "$*" in *api/token*) echo token ;; *) echo 3.3.3.3 ;; esac', 3, 3),
        # IMDS refuses (curl -f fails): every try asks for a token and never gets to poll.
        ("exit 22", 3, 0),
    ],
    ids=["wrong-address", "imds-down"],
)
def test_the_elastic_ip_wait_is_bounded_and_never_fails_the_boot(
    tmp_path: Path, imds: str, token_requests: int, polls: int
) -> None:
    calls = tmp_path / "calls"
    stub = tmp_path / "curl"
    stub.write_text(f'#!/bin/bash\necho "$*" >> {calls}\n{imds}\n')
    stub.chmod(0o755)
    script = wait_for_public_ipv4_command("198.51.100.7", tries=3, interval_seconds=0)[-1]
    done = run_with_stub_curl(tmp_path, script)
    assert done.returncode == 0, done.stderr
    logged = calls.read_text().splitlines()
    assert sum("/api/token" in call for call in logged) == token_requests, logged
    assert sum("/meta-data/public-ipv4" in call for call in logged) == polls, logged
    assert len(logged) == token_requests + polls, logged
