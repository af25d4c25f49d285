"""The AWS CCM as a case runs it: the DaemonSet's command line on loopback, the files the pod would
mount, its cloud config's [ServiceOverride] sections pointing at the enforcing proxy, its
ServiceAccount's kubeconfig and environment, and the probe of its secure port.
"""

from __future__ import annotations

import base64
import functools
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from components.render.ccm_manifests import (
    CLIENT_CA_FILE,
    CLIENT_CA_SECRET,
    CLOUD_CONFIG_FILE,
    CLOUD_CONFIG_MAP,
    MOUNTS,
    REQUESTHEADER_CA_FILE,
    REQUESTHEADER_CA_SECRET,
)
from components.render.cloud_config import ServiceOverride, render_cloud_config
from components.render.rbac import NAMESPACE, SERVICE_ACCOUNT
from components.settings import IpFamily
from e2e.cases import Case
from e2e.cluster import ControlPlane, ccm_daemonset_args, remap_mounts
from e2e.environment import DUMMY_CREDENTIALS, Environment
from e2e.kube import Kube, write_token_kubeconfig

# The AWS SDK for Go v2 service IDs the CCM matches a [ServiceOverride] by, and their SigV4 names.
AWS_SERVICES = (("EC2", "ec2"), ("Elastic Load Balancing", "elasticloadbalancing"))
ELBV2_SERVICE = ("Elastic Load Balancing v2", "elasticloadbalancing")


def service_overrides_text(env: Environment, families: tuple[IpFamily, ...], aws_url: str) -> tuple[str, str]:
    """(the cloud config without overrides, the [ServiceOverride] sections pointing EC2, ELB and
    ELBv2 at `aws_url`, the enforcing proxy in front of moto)."""
    render = functools.partial(
        render_cloud_config,
        env.release,
        cluster_name=env.cluster_name,
        zone=env.zone,
        region=env.region,
        ip_families=families,
    )
    base = render()
    full = render(
        service_overrides=[
            ServiceOverride(service, env.region, aws_url, env.region, signing_name=signing)
            for service, signing in (*AWS_SERVICES, ELBV2_SERVICE)
        ]
    )
    if not full.startswith(base):
        raise AssertionError("the service overrides are not an appendix of the cloud config")
    return base, full[len(base) :]


def ccm_command(env: Environment, case: Case, mount_dir: Path, kubeconfig: Path, port: int) -> list[str]:
    args = remap_mounts(ccm_daemonset_args(env.objects), mount_dir)
    if case.field_report_ccm_flags:
        args = [
            arg
            for arg in args
            if not arg.startswith(
                ("--client-ca-file=", "--requestheader-client-ca-file=", "--requestheader-allowed-names=")
            )
        ]
    # Loopback only, on a free port; the pod's in-cluster identity through a kubeconfig.
    args = [arg for arg in args if not arg.startswith("--secure-port=")]
    return [
        str(env.binaries.ccm),
        *args,
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]


def mount_files(admin: Kube, mount_dir: Path, overrides_text: str) -> None:
    """What the kubelet would project into the pod: the Secrets and ConfigMap as the API server holds them."""

    def secret(name: str, key: str) -> str:
        data = admin.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")["data"][key]
        return base64.b64decode(data).decode()

    config_map = admin.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CLOUD_CONFIG_MAP}")["data"]
    contents = {
        "client-ca": (CLIENT_CA_FILE, secret(CLIENT_CA_SECRET, CLIENT_CA_FILE)),
        "requestheader-ca": (REQUESTHEADER_CA_FILE, secret(REQUESTHEADER_CA_SECRET, REQUESTHEADER_CA_FILE)),
        "cloud-config": (CLOUD_CONFIG_FILE, config_map[CLOUD_CONFIG_FILE] + overrides_text),
    }
    for mount in MOUNTS:
        file_name, text = contents[mount.volume]
        directory = mount_dir / mount.directory.rsplit("/", 1)[-1]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / file_name).write_text(text)


def write_ccm_kubeconfig(env: Environment, plane: ControlPlane, work: Path) -> Path:
    """A kubeconfig with the CCM's ServiceAccount token, as its in-cluster credentials."""
    token = plane.admin.service_account_token(NAMESPACE, SERVICE_ACCOUNT)
    kubeconfig = work / "ccm.kubeconfig"
    write_token_kubeconfig(
        kubeconfig,
        plane.server,
        env.private_dir / "pki" / "ca.crt",
        f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        token,
    )
    return kubeconfig


def ccm_environment(env: Environment, work: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        **DUMMY_CREDENTIALS,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": env.imds_url,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
        "NO_PROXY": "*",
    }


def probe_secure_port(port: int, pki_dir: Path) -> dict[str, int | str]:
    """The CCM's secure port as the kubelet's probe and as the API server's front proxy reach it.

    `/healthz` unauthenticated (the DaemonSet's liveness and readiness probes); `/metrics` with the
    front-proxy-client certificate and X-Remote-User/X-Remote-Group headers, which the CCM must
    authenticate through its requestheader CA and allowed names, then authorise by a
    SubjectAccessReview to the API server."""
    results: dict[str, int | str] = {}
    requests = {
        "healthz": ("/healthz", {}, False),
        "metrics_via_front_proxy": (
            "/metrics",
            {"X-Remote-User": "e2e-admin", "X-Remote-Group": "system:masters"},
            True,
        ),
    }
    for name, (path, headers, front_proxy) in requests.items():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the CCM serves a self-signed in-memory certificate
        if front_proxy:
            context.load_cert_chain(str(pki_dir / "front-proxy-client.crt"), str(pki_dir / "front-proxy-client.key"))
        request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                results[name] = int(response.status)
        except urllib.error.HTTPError as error:
            results[name] = int(error.code)
        except OSError as error:
            results[name] = f"error: {error}"
    return results
