"""The engine tier's pure parts: the CCM pod's command line and choice, the registered nodes, the
test's admin certificate, the CLI's environment, the changed zone, the object count and the report."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.render.ccm_manifests import MOUNT_ROOT, UNINITIALIZED_TAINT, CcmSettings, ccm_manifests
from components.render.smoke import smoke_manifests
from components.settings import IpFamily
from components.versions import newest
from e2e.environment import Instance
from engine import judge
from engine.ccm_pod import container_command, running_pod
from engine.cluster import engine_node_manifest, make_admin_credentials
from engine.program import EnginePaths, ProgramInputs, drop_provider_overrides, engine_environment
from engine.report import Report
from engine.run import other_zone, rendered_object_count

INSTANCE = Instance(
    program_name="c-control-plane-node",
    instance_id="i-0123",
    node_name="ip-10-0-0-10.ec2.internal",
    availability_zone="us-east-1a",
    ipv4="10.0.0.10",
    ipv6="2600:1f18::a",
    mac="0a:00:00:00:00:01",
    vpc_id="vpc-1",
    subnet_id="subnet-1",
)


def _pod(
    name: str, node: str, phase: str = "Running", created: str = "2026-01-01T00:00:00Z", **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created, **meta},
        "spec": {"nodeName": node, "containers": [{"args": []}]},
        "status": {"phase": phase},
    }


def test_the_ccm_runs_for_the_newest_running_pod_on_the_control_plane_only() -> None:
    node = INSTANCE.node_name
    pods = [
        _pod("old", node, created="2026-01-01T00:00:00Z"),
        _pod("new", node, created="2026-01-01T00:01:00Z"),
        _pod("pending", node, phase="Pending", created="2026-01-01T00:02:00Z"),
        _pod("deleting", node, created="2026-01-01T00:03:00Z", deletionTimestamp="2026-01-01T00:04:00Z"),
        _pod("elsewhere", "worker", created="2026-01-01T00:05:00Z"),
    ]
    chosen = running_pod(pods, node)
    assert chosen is not None and chosen["metadata"]["name"] == "new"
    assert running_pod([_pod("elsewhere", "worker")], node) is None


def test_the_container_runs_on_loopback_with_its_mounts_moved(tmp_path: Path) -> None:
    pod = _pod("ccm", INSTANCE.node_name)
    pod["spec"]["containers"][0]["args"] = [
        "--cloud-provider=aws",
        f"--cloud-config={MOUNT_ROOT}/cloud-config/cloud.conf",
        f"--client-ca-file={MOUNT_ROOT}/client-ca/ca.crt",
        "--secure-port=10258",
        "--leader-elect=true",
    ]
    command = container_command(Path("/bin/ccm"), pod, tmp_path, tmp_path / "k.conf", port=12345)
    assert command[0] == "/bin/ccm"
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in command[1:])
    assert len(flags) == len(command) - 1, "a flag given twice"
    assert flags["cloud-config"] == f"{tmp_path}/cloud-config/cloud.conf"
    assert flags["client-ca-file"] == f"{tmp_path}/client-ca/ca.crt"
    assert flags["secure-port"] == "12345"
    assert flags["bind-address"] == "127.0.0.1"
    assert flags["kubeconfig"] == flags["authentication-kubeconfig"] == flags["authorization-kubeconfig"]
    assert flags["leader-elect"] == "true"
    assert not any(MOUNT_ROOT in arg for arg in command)


def test_the_control_plane_node_is_marked_as_kubeadm_marks_it_and_workers_are_not() -> None:
    release = newest()
    expression = "${NODE_IPV6},${NODE_IPV4}"
    control_plane = engine_node_manifest(INSTANCE, expression, True, release)
    worker = engine_node_manifest(INSTANCE, expression, False, release)
    assert control_plane["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    taints = {t["key"] for t in control_plane["spec"]["taints"]}
    assert taints == {UNINITIALIZED_TAINT, "node-role.kubernetes.io/control-plane"}
    assert "node-role.kubernetes.io/control-plane" not in worker["metadata"]["labels"]
    assert {t["key"] for t in worker["spec"]["taints"]} == {UNINITIALIZED_TAINT}
    annotation = worker["metadata"]["annotations"]["alpha.kubernetes.io/provided-node-ip"]
    assert annotation == "2600:1f18::a,10.0.0.10"


def test_the_admin_certificate_is_a_client_certificate_of_system_masters_signed_by_the_ca() -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = x509.random_serial_number()
    start = datetime.datetime.now(datetime.UTC)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(now)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    ca_key_pem = ca_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = make_admin_credentials(ca_pem, ca_key_pem)
    cert = x509.load_pem_x509_certificate(credentials.cert_pem.encode())
    ca_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert "PRIVATE KEY" in credentials.key_pem
    key = serialization.load_pem_private_key(credentials.key_pem.encode(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_the_cli_finds_the_built_plugins_first_and_keeps_its_home_private(tmp_path: Path) -> None:
    paths = EnginePaths(tmp_path)
    env = engine_environment([tmp_path / "bin-a", tmp_path / "bin-b"], paths, "s3cret")
    assert env["PATH"].split(":")[:2] == [str(tmp_path / "bin-a"), str(tmp_path / "bin-b")]
    assert env["PULUMI_HOME"] == str(tmp_path / "pulumi-home")
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "s3cret"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert not any(name.startswith("PULUMI_K8S_") for name in env)
    assert paths.backend == tmp_path / "backend"


def test_provider_overrides_from_the_caller_are_dropped() -> None:
    environ = {"PULUMI_K8S_AWAIT_ALL": "false", "PULUMI_K8S_ENABLE_CONFIGMAP_MUTABLE": "true", "PATH": "/bin"}
    assert drop_provider_overrides(environ) == ["PULUMI_K8S_AWAIT_ALL", "PULUMI_K8S_ENABLE_CONFIGMAP_MUTABLE"]
    assert environ == {"PATH": "/bin"}


def test_the_changed_zone_is_another_zone_of_the_stack() -> None:
    assert other_zone(["us-east-1a", "us-east-1c", "us-east-1b", "us-east-1a"], "us-east-1a") == "us-east-1b"
    with pytest.raises(ValueError, match="no zone other than us-east-1a"):
        other_zone(["us-east-1a"], "us-east-1a")


def _inputs() -> ProgramInputs:
    release = newest()
    return ProgramInputs(
        release=release,
        cluster_name="c",
        region="us-east-1",
        zone="us-east-1a",
        ip_families=(IpFamily.IPV6, IpFamily.IPV4),
        ccm_image=release.ccm_image,
        endpoint="https://127.0.0.1:6443",
        cluster_ca_cert_pem="ca",
        front_proxy_ca_cert_pem="fp",
        admin_cert_pem="cert",
        admin_key_pem="key",
    )


def test_every_object_the_components_render_can_be_looked_up_after_destroy() -> None:
    # The CCM's ServiceAccount, 2 ClusterRoles and 2 bindings, a RoleBinding, 2 Secrets, the
    # ConfigMap, the DaemonSet (+ a Role and RoleBinding where the CCM reads Secrets); the smoke
    # Namespace, Deployment and Service.
    release = newest()
    assert rendered_object_count(_inputs()) == 13 + (2 if release.ccm_reads_secrets else 0)
    ccm = ccm_manifests(CcmSettings(release, release.ccm_image, "c", "[Global]\n"), "ca", "fp")
    kinds = {m["kind"] for m in [*ccm, *smoke_manifests(_inputs().ip_families)]}
    assert kinds <= set(judge.OBJECT_PATHS), kinds - set(judge.OBJECT_PATHS)


def test_a_step_that_raises_or_finds_problems_fails_the_report() -> None:
    report = Report("s")
    with report.step("fine"):
        pass
    assert report.passed
    with report.step("raises"):
        raise RuntimeError("boom")
    with report.step("problems") as step:
        step.problems.append("wrong")
    document = report.as_dict()
    assert document["passed"] is False
    assert [s["passed"] for s in document["steps"]] == [True, False, False]
    assert document["steps"][1]["error"] == "RuntimeError: boom"
