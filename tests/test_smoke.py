"""The smoke workload's manifests and the commands that prove its Service answers on both families."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.render.smoke import (
    AGNHOST_DIGEST,
    AGNHOST_IMAGE,
    AGNHOST_REPOSITORY,
    AGNHOST_TAG,
    CLIENT_IP_PATH,
    HTTP_PORT,
    NAME,
    NAMESPACE,
    SERVICE_FAMILIES_COMMAND,
    SERVICE_FAMILIES_EXPECTED,
    SERVICE_FAMILIES_TEMPLATE,
    SERVICE_PORT,
    smoke_manifests,
)
from components.settings import IpFamily

BOTH = [(IpFamily.IPV4, IpFamily.IPV6), (IpFamily.IPV6, IpFamily.IPV4)]
# Paths agnhost's netexec serves (k8s.io/kubernetes test/images/agnhost/netexec/netexec.go addRoutes).
NETEXEC_PATHS = {"/", "/clientip", "/header", "/dial", "/echo", "/healthz", "/readyz", "/hostname", "/serverport"}


def deployment_container(families: tuple[IpFamily, IpFamily]) -> dict:
    deployment = next(m for m in smoke_manifests(families) if m["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("families", BOTH, ids=["ipv4-first", "ipv6-first"])
def test_one_kubernetes_project_image_for_every_architecture(families: tuple[IpFamily, IpFamily]) -> None:
    container = deployment_container(families)
    assert container["image"] == AGNHOST_IMAGE == f"{AGNHOST_REPOSITORY}:{AGNHOST_TAG}@{AGNHOST_DIGEST}"
    assert AGNHOST_REPOSITORY.startswith("registry.k8s.io/e2e-test-images/")
    assert AGNHOST_DIGEST.startswith("sha256:") and len(AGNHOST_DIGEST) == len("sha256:") + 64
    assert container["args"][0] == "netexec" and f"--http-port={HTTP_PORT}" in container["args"]


def test_probes_use_paths_netexec_serves_on_its_port() -> None:
    container = deployment_container(BOTH[0])
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in NETEXEC_PATHS and get["port"] == HTTP_PORT
    # /healthz and /readyz report ready only once the UDP server runs: it must not be disabled.
    assert "--udp-port=-1" not in container["args"]
    assert CLIENT_IP_PATH in NETEXEC_PATHS


def test_runs_unprivileged_with_a_read_only_root_and_limits() -> None:
    container = deployment_container(BOTH[0])
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] != 0 and security["readOnlyRootFilesystem"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("families", BOTH, ids=["ipv4-first", "ipv6-first"])
def test_service_is_prefer_dual_stack_in_the_stack_order(families: tuple[IpFamily, IpFamily]) -> None:
    service = next(m for m in smoke_manifests(families) if m["kind"] == "Service")
    assert service["metadata"] == {"name": NAME, "namespace": NAMESPACE, "labels": {"app": NAME}}
    assert service["spec"]["ipFamilyPolicy"] == "PreferDualStack"
    assert service["spec"]["ipFamilies"] == [{IpFamily.IPV4: "IPv4", IpFamily.IPV6: "IPv6"}[f] for f in families]
    assert service["spec"]["ports"] == [{"name": "http", "port": SERVICE_PORT, "targetPort": HTTP_PORT}]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (offline: label --local)")
def test_family_template_pairs_each_family_with_its_cluster_ip(tmp_path: Path) -> None:
    service = next(m for m in smoke_manifests(BOTH[1]) if m["kind"] == "Service")
    service["spec"]["clusterIPs"] = ["fd00:10:96::c", "10.96.0.12"]
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(service))
    # `label --local` renders an object with kubectl's own go-template printer, without a server.
    printed = subprocess.run(
        [
            "kubectl",
            "label",
            "--local",
            "-f",
            str(path),
            "probe=x",
            "-o",
            "go-template",
            "--template",
            SERVICE_FAMILIES_TEMPLATE,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == "IPv6 fd00:10:96::c\nIPv4 10.96.0.12\n"


STUB_KUBECTL = """#!/bin/bash
# `get` prints what the go-template prints; `exec ... curl ... URL` logs the URL and answers as netexec would.
if [[ "$*" == *" get service "* ]]; then printf 'IPv4 10.96.0.12\\nIPv6 fd00:10:96::c\\n'; exit 0; fi
url="${@: -1}"
echo "$*" >> "$CALLS"
case "$url" in
  *\\[*) printf '[fd00:10:244:1::7]:51288' ;;
  *) printf '10.244.1.7:43512' ;;
esac
"""


def test_family_command_makes_one_request_per_family_and_shows_the_answer(tmp_path: Path) -> None:
    stub = tmp_path / "kubectl"
    stub.write_text(STUB_KUBECTL)
    stub.chmod(0o755)
    calls = tmp_path / "calls"
    done = subprocess.run(
        ["bash", "-c", SERVICE_FAMILIES_COMMAND],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "CALLS": str(calls)},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stdout.splitlines() == [
        "IPv4 10.96.0.12 -> 10.244.1.7:43512",
        "IPv6 fd00:10:96::c -> [fd00:10:244:1::7]:51288",
    ]
    requests = calls.read_text().splitlines()
    assert [line.split()[-1] for line in requests] == [
        f"http://10.96.0.12:{SERVICE_PORT}{CLIENT_IP_PATH}",
        f"http://[fd00:10:96::c]:{SERVICE_PORT}{CLIENT_IP_PATH}",
    ]
    assert all(f"-n {NAMESPACE} exec deploy/{NAME} -- curl" in line and " -g " in line for line in requests)


def test_expected_output_shows_an_address_of_each_family() -> None:
    for line, version in zip(SERVICE_FAMILIES_EXPECTED, (4, 6), strict=True):
        family, cluster_ip, arrow, answer = line.split()
        assert family == f"IPv{version}" and arrow == "->"
        assert ipaddress.ip_address(cluster_ip).version == version
        host = answer.rsplit(":", 1)[0].strip("[]")
        assert ipaddress.ip_address(host).version == version
