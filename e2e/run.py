"""End to end against the real binaries: etcd, kube-apiserver and the AWS CCM on loopback, moto as
EC2 and ELB behind an enforcing IAM proxy.

    python -m e2e.run [--stack k8s-1-35] [--case NAME ...] [--ccm-seconds 90]

For the newest buildable release the program's stack is run under the mock engine; moto is
seeded from that graph by tools/aws_replay.py (VPC, subnets, cluster-tagged security groups,
instances with IPv4 and IPv6 addresses). Each case then gets a fresh etcd + kube-apiserver with
the program's PKI and the command line kubeadm writes for its kubeadm configuration, the program's Secrets,
ConfigMap and RBAC, Node objects registered as the kubelet would, the CCM as a local process
with the DaemonSet's arguments, and its own enforcing AWS proxy (e2e/aws_proxy.py): every EC2 and
ELB call of the CCM is judged by the IAM simulator against the control-plane role's rendered
policies before it reaches moto. The load balancer cases then create a Service of type
LoadBalancer (e2e/services.py). `build/e2e/report.json` records each case with the Node objects
read back from the API server, the path of the full CCM log and of its AWS calls
(`build/e2e/aws-calls-<case>.json`).
"""

from __future__ import annotations

import argparse
import base64
import functools
import ipaddress
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from components.render.bootstrap import BOOTSTRAP_TOKEN, NODE_IPV4, NODE_IPV6, NODE_NAME, placeholder
from components.render.ccm_manifests import (
    CLIENT_CA_FILE,
    CLIENT_CA_SECRET,
    CLOUD_CONFIG_FILE,
    CLOUD_CONFIG_MAP,
    MOUNTS,
    REQUESTHEADER_CA_FILE,
    REQUESTHEADER_CA_SECRET,
    UNINITIALIZED_TAINT,
)
from components.render.cloud_config import ServiceOverride, render_cloud_config
from components.render.kubeadm import kubelet_node_ip_expression
from components.render.rbac import NAMESPACE, SERVICE_ACCOUNT
from components.settings import IpFamily, parse_settings
from components.versions import NodeIpMode, Release
from e2e import field_report
from e2e.aws_proxy import (
    AwsProxy,
    Enforcer,
    MotoState,
    deployed_control_plane,
    role_for_proxy,
    without_listener_tag_on_create,
)
from e2e.build import BUILDS, UNBUILDABLE, Binaries, build
from e2e.cluster import (
    ControlPlane,
    ControlPlaneConfig,
    ccm_daemonset_args,
    control_plane_config,
    iter_objects,
    kubeadm_api_server_command,
    program_cloud_config,
    program_objects,
    remap_mounts,
    start_control_plane,
)
from e2e.imds import InstanceIdentity, MetadataServer
from e2e.kube import ApiError, Kube, write_token_kubeconfig
from e2e.pki import write_control_plane_pki
from e2e.procs import Process, free_port, stop_all, wait_for
from e2e.services import (
    LISTENER_TAGS_DENIED,
    authorization_errors,
    call_problems,
    ingress,
    is_listener_tag_on_create_denial,
    service_manifest,
)
from tools import aws_replay
from tools.iam_check.model import NamedPolicy
from tools.iam_check.runner import SimulatorSession, ensure_installed
from tools.iam_check.stack_facts import RoleFacts, StackFacts
from tools.offline.capture import Graph
from tools.offline.engine import run_program
from tools.offline.stackfiles import stack_config

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "build" / "e2e"
PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"
FORBIDDEN = re.compile(r"\bforbidden\b", re.IGNORECASE)
MISSING_CA = "missing content for CA bundle"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    """"pass": our setup initialises every node; "fail": the field report's failure appears."""
    description: str
    field_report_rbac: bool = False
    aggregation_layer: bool = True
    field_report_ccm_flags: bool = False
    node_ip_families: tuple[IpFamily, ...] | None = None
    """Override of the cloud config's NodeIPFamilies (None: the program's)."""
    node_ip_mode: NodeIpMode | None = None
    """Override of the release row's kubelet --node-ip mode (None: the program's)."""
    failure: re.Pattern[str] | None = None
    """The log line of the field report's failure that a negative case must show."""
    load_balancer: str | None = None
    """`clb` or `nlb`: once the nodes are initialised, a Service of type LoadBalancer of that kind
    is created; the case waits for its address (or, with `failure`, for the failure)."""
    revert_listener_tag_on_create: bool = False
    """Fix 3 reverted: the control-plane role's CCM policy without CreateListener among the
    `elasticloadbalancing:CreateAction` values of its tag-on-create statement."""
    denials: int = 0
    """How many requests the enforcing proxy must have denied before a negative case is judged
    (the first attempt and the controller's retry, both refused the same way)."""


def cases(release: Release) -> list[Case]:
    return [
        Case(
            name=f"positive-{release.minor}",
            expect="pass",
            description="the program's PKI, aggregation flags, Secrets, ConfigMap, RBAC, DaemonSet args, "
            "cloud config and --node-ip mode",
        ),
        Case(
            name="negative-rbac-v1.20",
            expect="fail",
            description="the field report's RBAC: cloud-provider-aws v1.20's ClusterRole (serviceaccounts "
            "create only, no serviceaccounts/token) instead of the program's roles",
            field_report_rbac=True,
            failure=re.compile(
                r'is forbidden: User "system:serviceaccount:kube-system:cloud-controller-manager"'
                r' cannot \w+ resource "serviceaccounts'
            ),
        ),
        Case(
            name="negative-no-requestheader-flags",
            expect="fail",
            description="the field report's API server without the requestheader/proxy-client flags, and its "
            "CCM flags (no --client-ca-file, no --requestheader-*): the CCM reads the CAs from "
            "extension-apiserver-authentication",
            aggregation_layer=False,
            field_report_ccm_flags=True,
            # klog's structured "Unhandled Error" lines quote the name as \"...\".
            failure=re.compile(
                r'missing content for CA bundle \\?"client-ca::kube-system::'
                r'extension-apiserver-authentication::requestheader-client-ca-file\\?"'
            ),
        ),
        Case(
            name="negative-ipv6-node-ip-without-ipv6-family",
            expect="fail",
            description="the field report's scenario 2: kubelet --node-ip=<IPv6> with NodeIPFamilies = ipv4 "
            "only (the CCM's default), so the CCM reports no IPv6 address",
            node_ip_families=(IpFamily.IPV4,),
            node_ip_mode=NodeIpMode.IPV6,
            failure=re.compile(
                r"failed to get node modifiers from cloud provider: provided node ip for node "
                r'"[^"]+" is not valid: failed to get node address from cloud provider that '
                r"matches ip"
            ),
        ),
        Case(
            name=f"service-clb-{release.minor}",
            expect="pass",
            description="the positive setup plus a Service of type LoadBalancer (a classic ELB, the default): "
            "every AWS call of the CCM judged by the IAM simulator against the control-plane role's policies",
            load_balancer="clb",
        ),
        Case(
            name=f"service-nlb-{release.minor}",
            expect="pass",
            description="the positive setup plus a Service annotated aws-load-balancer-type: nlb: every AWS "
            "call of the CCM judged by the IAM simulator against the control-plane role's policies",
            load_balancer="nlb",
        ),
        Case(
            name="negative-nlb-listener-tags-without-create-action",
            expect="fail",
            description="fix 3 reverted: the CCM policy's tag-on-create statement without CreateListener in "
            "elasticloadbalancing:CreateAction, so the NLB's CreateListener (which carries tags since v1.23) "
            "is denied its elasticloadbalancing:AddTags on the new listener",
            load_balancer="nlb",
            revert_listener_tag_on_create=True,
            failure=LISTENER_TAGS_DENIED,
            denials=2,
        ),
    ]


@dataclass(frozen=True)
class Instance:
    program_name: str
    instance_id: str
    node_name: str
    availability_zone: str
    ipv4: str
    ipv6: str
    mac: str
    vpc_id: str
    subnet_id: str


@dataclass(frozen=True)
class Authorization:
    """What the enforcing AWS proxy judges with: the stack's facts with moto's IDs, the
    control-plane role with its rendered policies (the graph's IDs replaced by moto's), moto's
    resources and one long-lived IAM simulator."""

    facts: StackFacts
    role: RoleFacts
    policies: tuple[NamedPolicy, ...]
    state: MotoState
    simulator: SimulatorSession
    simulator_version: str


@dataclass
class Environment:
    graph: Graph
    release: Release
    binaries: Binaries
    cluster_name: str
    region: str
    zone: str
    ip_families: tuple[IpFamily, IpFamily]
    config: ControlPlaneConfig
    kubeadm_command: list[str]
    """kube-apiserver's command as kubeadm writes it for the program's kubeadm configuration."""
    objects: list[dict[str, Any]]
    cloud_config: str
    moto_url: str
    imds_url: str
    instances: list[Instance]
    private_dir: Path
    log_root: Path
    authorization: Authorization


def seed_moto(graph: Graph, moto_url: str, region: str) -> tuple[list[Instance], dict[str, str]]:
    """Replay the program's network, IAM and instances into moto (tools/aws_replay.py); the
    instances, and the ID the mock engine gave each replayed resource -> the ID moto gave it."""
    result = aws_replay.replay(graph, moto_url, include_instances=True)
    if result.failures:
        failures = [(call.name, call.operation, call.error) for call in result.failures]
        raise RuntimeError(f"replay into moto failed: {failures}")
    replayed_ids = {
        str(graph.get(urn).id): api_id for urn, api_id in result.ids.items() if graph.get(urn).id is not None
    }
    ids = {name.rsplit("::", 1)[-1]: info.instance_id for name, info in result.instances.items()}
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=moto_url, **_boto_credentials())
    instances = []
    for program_name, instance_id in sorted(ids.items()):
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        interface = sorted(described["NetworkInterfaces"], key=lambda eni: eni["Attachment"]["DeviceIndex"])[0]
        ipv6 = [address["Ipv6Address"] for address in interface.get("Ipv6Addresses", [])]
        if not ipv6:
            raise RuntimeError(f"moto instance {instance_id} ({program_name}) has no IPv6 address")
        instances.append(
            Instance(
                program_name=program_name,
                instance_id=instance_id,
                node_name=described["PrivateDnsName"],
                availability_zone=described["Placement"]["AvailabilityZone"],
                ipv4=described["PrivateIpAddress"],
                ipv6=ipv6[0],
                mac=interface["MacAddress"],
                vpc_id=described["VpcId"],
                subnet_id=described["SubnetId"],
            )
        )
    return instances, replayed_ids


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _node_ip(expression: str | None, instance: Instance) -> str | None:
    if expression is None:
        return None
    return expression.replace(placeholder(NODE_IPV4), instance.ipv4).replace(placeholder(NODE_IPV6), instance.ipv6)


def node_manifest(instance: Instance, node_ip: str | None) -> dict[str, Any]:
    """A Node as kubelet --cloud-provider=external registers it (addresses are the CCM's to set)."""
    metadata: dict[str, Any] = {
        "name": instance.node_name,
        "labels": {
            "kubernetes.io/hostname": instance.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        },
    }
    if node_ip is not None:
        metadata["annotations"] = {PROVIDED_NODE_IP: node_ip}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "spec": {"taints": [{"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}]},
    }


def _mount_files(admin: Kube, mount_dir: Path, overrides_text: str) -> None:
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


# The AWS SDK for Go v2 service IDs the CCM matches a [ServiceOverride] by, and their SigV4 names.
AWS_SERVICES = (("EC2", "ec2"), ("Elastic Load Balancing", "elasticloadbalancing"))
ELBV2_SERVICE = ("Elastic Load Balancing v2", "elasticloadbalancing")


def _service_overrides_text(env: Environment, families: tuple[IpFamily, ...], aws_url: str) -> tuple[str, str]:
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


def _is_initialised(node: dict[str, Any]) -> bool:
    taints = node.get("spec", {}).get("taints") or []
    return bool(node.get("spec", {}).get("providerID")) and not any(t["key"] == UNINITIALIZED_TAINT for t in taints)


def check_positive(
    log: str, nodes: list[dict[str, Any]], instances: list[Instance], families: tuple[IpFamily, IpFamily]
) -> list[str]:
    """Every problem a positive case has; empty when it passed."""
    problems = []
    if FORBIDDEN.search(log):
        problems.append("CCM log contains 'forbidden'")
    if MISSING_CA in log:
        problems.append(f"CCM log contains {MISSING_CA!r}")
    problems += [f"CCM log has an AWS authorization error: {line[:300]}" for line in authorization_errors(log)[:3]]
    by_name = {node["metadata"]["name"]: node for node in nodes}
    for instance in instances:
        node = by_name.get(instance.node_name)
        if node is None:
            problems.append(f"node {instance.node_name} missing")
            continue
        taints = [t["key"] for t in node.get("spec", {}).get("taints") or []]
        if UNINITIALIZED_TAINT in taints:
            problems.append(f"{instance.node_name}: still tainted {UNINITIALIZED_TAINT}")
        expected_id = f"aws:///{instance.availability_zone}/{instance.instance_id}"
        if node.get("spec", {}).get("providerID") != expected_id:
            problems.append(
                f"{instance.node_name}: providerID {node.get('spec', {}).get('providerID')!r} != {expected_id!r}"
            )
        internal = [a["address"] for a in node.get("status", {}).get("addresses", []) if a["type"] == "InternalIP"]
        by_family = {IpFamily.IPV4: instance.ipv4, IpFamily.IPV6: instance.ipv6}
        expected = [by_family[family] for family in families]
        got_families = [IpFamily.IPV4 if ipaddress.ip_address(a).version == 4 else IpFamily.IPV6 for a in internal]
        if internal != expected:
            problems.append(
                f"{instance.node_name}: InternalIPs {internal} ({[f.value for f in got_families]}) "
                f"!= {expected} ({[f.value for f in families]})"
            )
    return problems


def _apply(admin: Kube, manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        try:
            admin.create(manifest)
        except ApiError as error:
            raise RuntimeError(f"applying {manifest['kind']} {manifest['metadata']['name']}: {error}") from None


def _apply_ccm_objects(env: Environment, case: Case, admin: Kube, families: tuple[IpFamily, ...], aws_url: str) -> str:
    """The program's Secrets and ConfigMaps (the case's cloud config) and RBAC; the service overrides text."""
    base_config, overrides_text = _service_overrides_text(env, families, aws_url)
    data_objects = list(iter_objects(env.objects, {"Secret", "ConfigMap"}))
    if case.node_ip_families is not None:
        data_objects = [
            field_report.with_cloud_config(m, base_config) if m["kind"] == "ConfigMap" else m for m in data_objects
        ]
    elif base_config != env.cloud_config:
        raise AssertionError("render_cloud_config does not reproduce the program's cloud config")
    rbac = (
        field_report.rbac_v1_20()
        if case.field_report_rbac
        else list(
            iter_objects(env.objects, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})
        )
    )
    _apply(admin, data_objects + rbac)
    return overrides_text


def _write_ccm_kubeconfig(env: Environment, plane: ControlPlane, work: Path) -> Path:
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


def _register_nodes(env: Environment, case: Case, admin: Kube) -> None:
    """The Node objects as each instance's kubelet registers them, with the case's --node-ip."""
    node_ip_expression = (
        env.config.node_ip_expression
        if case.node_ip_mode is None
        else kubelet_node_ip_expression(case.node_ip_mode, env.ip_families)
    )
    _apply(admin, [node_manifest(instance, _node_ip(node_ip_expression, instance)) for instance in env.instances])


def _ccm_environment(env: Environment, work: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        **DUMMY_CREDENTIALS,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": env.imds_url,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
        "NO_PROXY": "*",
    }


def _service_path() -> str:
    manifest = service_manifest("clb")
    return f"{Kube.object_path(manifest)}/{manifest['metadata']['name']}"


def _wait_for_outcome(case: Case, admin: Kube, ccm: Process, proxy: AwsProxy, ccm_seconds: float) -> str:
    """Until the expected failure is in the log, or every node is initialised (and, for a load
    balancer case, the Service has an address); how the wait ended."""
    deadline = time.monotonic() + ccm_seconds

    def initialised() -> bool | None:
        nodes = admin.get("/api/v1/nodes")["items"]
        return True if nodes and all(_is_initialised(node) for node in nodes) else None

    def finished() -> bool | None:
        if case.failure is not None:
            denied = sum(1 for call in list(proxy.calls) if call["decision"] != "allowed")
            return True if case.failure.search(ccm.log_text()) and denied >= case.denials else None
        if case.load_balancer is not None:
            return True if ingress(admin.get(_service_path())) else None
        return initialised()

    try:
        if case.load_balancer is not None:
            wait_for(f"case {case.name}: nodes initialised", initialised, ccm_seconds, interval=1, alive=ccm)
            _apply(admin, [service_manifest(case.load_balancer)])
        wait_for(f"case {case.name}", finished, max(deadline - time.monotonic(), 1), interval=1, alive=ccm)
        time.sleep(5)  # let late errors (or their absence) show in the log, and a wrong address appear
    except TimeoutError as error:
        return str(error)
    return "condition met"


def _judge(
    env: Environment,
    case: Case,
    *,
    log: str,
    nodes: list[dict[str, Any]],
    secure_port_answers: dict[str, int | str],
    service: dict[str, Any] | None,
    aws_calls: dict[str, Any],
    calls: list[dict[str, Any]],
) -> tuple[bool, list[str], list[str]]:
    """Whether the case passed, its problems and the log lines that decided it."""
    if case.failure is None:
        problems = check_positive(log, nodes, env.instances, env.ip_families)
        problems += [
            f"CCM secure port {name}: {answer} (expected 200)"
            for name, answer in secure_port_answers.items()
            if answer != 200
        ]
        problems += call_problems(aws_calls)
        if case.load_balancer is not None and not ingress(service or {}):
            problems.append(f"Service {_service_path()} has no status.loadBalancer.ingress")
        lines = log.splitlines()
        ensured = [line for line in lines if "EnsuredLoadBalancer" in line or "has DNS name" in line]
        decisive = (
            ensured
            + [
                line
                for line in lines
                if "Successfully initialized node" in line or "forbidden" in line.lower() or MISSING_CA in line
            ]
        )[:10]
        return not problems, problems, decisive
    matches = [line for line in log.splitlines() if case.failure.search(line)]
    problems = [] if matches else [f"the expected failure /{case.failure.pattern}/ is not in the CCM log"]
    if case.load_balancer is not None:
        if ingress(service or {}):
            problems.append(f"Service {_service_path()} got an address: {ingress(service or {})}")
        refused = [call for call in calls if call["decision"] != "allowed"]
        if len(refused) < max(case.denials, 1):
            problems.append(f"{len(refused)} AWS calls denied, expected at least {max(case.denials, 1)}")
        problems += [
            f"AWS call #{call['seq']} {call['operation']} refused for another reason: "
            f"{call.get('error') or call.get('denied')}"
            for call in refused
            if not is_listener_tag_on_create_denial(call)
        ]
    return not problems, problems, matches[:3]


def start_proxy(env: Environment, case: Case) -> tuple[AwsProxy, str]:
    """The enforcing AWS endpoint for the case: the control-plane role's policies (the case's
    change applied), the role session named after the control plane's instance."""
    authz = env.authorization
    policies = authz.policies
    note = "the control-plane role's identity policies as rendered (mock IDs replaced by moto's)"
    if case.revert_listener_tag_on_create:
        policies = without_listener_tag_on_create(policies)
        note += "; fix 3 reverted: CreateListener removed from elasticloadbalancing:CreateAction"
    control_plane = next(i for i in env.instances if i.program_name == f"{env.cluster_name}-control-plane-node")
    role = role_for_proxy(authz.role, policies, control_plane.instance_id)
    enforcer = Enforcer(authz.facts, role, authz.state, authz.simulator)
    return AwsProxy(env.moto_url, enforcer, authz.state).start(), note


def run_case(env: Environment, case: Case, ccm_seconds: float) -> dict[str, Any]:
    log_dir = env.log_root / case.name
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=env.private_dir))
    families = case.node_ip_families or env.ip_families
    started = time.monotonic()
    binaries = {"etcd": env.binaries.etcd, "kube-apiserver": env.binaries.kube_apiserver}
    plane: ControlPlane = start_control_plane(
        binaries,
        kubeadm_command=env.kubeadm_command,
        pki_dir=env.private_dir / "pki",
        work_dir=work,
        log_dir=log_dir,
        aggregation_layer=case.aggregation_layer,
    )
    ccm: Process | None = None
    proxy: AwsProxy | None = None
    try:
        proxy, policy_note = start_proxy(env, case)
        admin = plane.admin
        authentication = admin.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/extension-apiserver-authentication")
        overrides_text = _apply_ccm_objects(env, case, admin, families, proxy.url)
        mount_dir = work / "mount"
        _mount_files(admin, mount_dir, overrides_text)
        kubeconfig = _write_ccm_kubeconfig(env, plane, work)
        _register_nodes(env, case, admin)

        secure_port = free_port()
        command = ccm_command(env, case, mount_dir, kubeconfig, secure_port)
        ccm_log = log_dir / "ccm.log"
        ccm = Process("aws-cloud-controller-manager", command, ccm_log, _ccm_environment(env, work))
        outcome = _wait_for_outcome(case, admin, ccm, proxy, ccm_seconds)
        exit_code = ccm.exited()
        secure_port_answers = probe_secure_port(secure_port, env.private_dir / "pki") if exit_code is None else {}
        ccm.stop()
        nodes = [admin.get(f"/api/v1/nodes/{instance.node_name}") for instance in env.instances]
        service = admin.get(_service_path()) if case.load_balancer is not None else None
        calls_file = env.log_root / f"aws-calls-{case.name}.json"
        aws_calls = proxy.write_calls(
            calls_file,
            {
                "case": case.name,
                "policies": policy_note,
                "principal": proxy.enforcer.role.session_arn,
                "simulator": f"@cloud-copilot/iam-simulate {env.authorization.simulator_version}",
            },
        )
        passed, problems, decisive = _judge(
            env,
            case,
            log=ccm.log_text(),
            nodes=nodes,
            secure_port_answers=secure_port_answers,
            service=service,
            aws_calls=aws_calls,
            calls=list(proxy.calls),
        )
        return {
            "name": case.name,
            "expect": case.expect,
            "passed": passed,
            "description": case.description,
            "ccm_log": str(ccm_log),
            "api_server_log": str(log_dir / "kube-apiserver.log"),
            "ccm_exit_code": exit_code,
            "wait_outcome": outcome,
            "seconds": round(time.monotonic() - started, 1),
            "ccm_command": command,
            "problems": problems,
            "decisive_log_lines": decisive,
            "extension_apiserver_authentication_keys": sorted(authentication.get("data", {})),
            "ccm_secure_port": secure_port_answers,
            "aws_calls": str(calls_file),
            "aws_calls_summary": aws_calls,
            **({"service": service} if service is not None else {}),
            "nodes": nodes,
        }
    finally:
        if ccm is not None:
            ccm.stop()
        if proxy is not None:
            proxy.stop()
        plane.stop()


def prepare_authorization(graph: Graph, moto_url: str, region: str, replayed_ids: dict[str, str]) -> Authorization:
    """The facts and control-plane policies of the render with moto's IDs, and the simulator."""
    version = ensure_installed()
    facts, role = deployed_control_plane(graph, replayed_ids)
    return Authorization(
        facts=facts,
        role=role,
        policies=role.policies,
        state=MotoState(moto_url, region),
        simulator=SimulatorSession(),
        simulator_version=version,
    )


def prepare(
    stack: str, private_dir: Path, log_root: Path
) -> tuple[Environment, list[Process | MetadataServer | SimulatorSession]]:
    settings = parse_settings(stack_config(stack), stack)
    release = settings.release
    cluster_name, region, families = settings.cluster_name, settings.region, settings.ip_families
    binaries = build(release.minor)
    graph = run_program(stack, preview=False)
    config = control_plane_config(graph, cluster_name)
    objects = program_objects(graph)
    write_control_plane_pki(graph, cluster_name, private_dir / "pki")

    moto_port = free_port()
    moto = Process(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        log_root / "moto.log",
        {**os.environ, **DUMMY_CREDENTIALS},
    )
    moto_url = f"http://127.0.0.1:{moto_port}"
    wait_for(
        "moto",
        lambda: boto3.client(
            "sts", region_name=region, endpoint_url=moto_url, **_boto_credentials()
        ).get_caller_identity(),
        60,
        alive=moto,
    )
    instances, replayed_ids = seed_moto(graph, moto_url, region)
    authorization = prepare_authorization(graph, moto_url, region, replayed_ids)
    control_plane = next(i for i in instances if i.program_name == f"{cluster_name}-control-plane-node")
    imds = MetadataServer(
        InstanceIdentity(
            instance_id=control_plane.instance_id,
            availability_zone=control_plane.availability_zone,
            region=region,
            private_dns_name=control_plane.node_name,
            private_ipv4=control_plane.ipv4,
            mac=control_plane.mac,
            vpc_id=control_plane.vpc_id,
            subnet_id=control_plane.subnet_id,
        )
    ).start()
    kubeadm_command = kubeadm_api_server_command(
        binaries.kubeadm,
        config,
        {
            NODE_NAME: control_plane.node_name,
            NODE_IPV4: control_plane.ipv4,
            NODE_IPV6: control_plane.ipv6,
            BOOTSTRAP_TOKEN: "e2e000.0123456789abcdef",
        },
        private_dir / "kubeadm",
    )
    env = Environment(
        graph=graph,
        release=release,
        binaries=binaries,
        cluster_name=cluster_name,
        region=region,
        zone=control_plane.availability_zone,
        ip_families=families,
        config=config,
        kubeadm_command=kubeadm_command,
        objects=objects,
        cloud_config=program_cloud_config(graph),
        moto_url=moto_url,
        imds_url=imds.url,
        instances=instances,
        private_dir=private_dir,
        log_root=log_root,
        authorization=authorization,
    )
    return env, [moto, imds, authorization.simulator]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="k8s-1-35")
    parser.add_argument("--case", action="append", help="run only these cases (default: all)")
    parser.add_argument("--ccm-seconds", type=float, default=90, help="bound of each CCM run")
    args = parser.parse_args(argv)
    started = time.monotonic()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    private_dir = Path(tempfile.mkdtemp(prefix="k8s-dualstack-e2e-"))
    services: list[Process | MetadataServer | SimulatorSession] = []
    report: dict[str, Any] = {"stack": args.stack, "cases": []}
    try:
        env, services = prepare(args.stack, private_dir, OUT_DIR)
        report |= {
            "release": env.release.minor,
            "kubernetes_version": env.binaries.kubernetes_version,
            "ccm_version": env.binaries.ccm_version,
            "build_note": env.binaries.note,
            "unbuildable_releases": UNBUILDABLE,
            "buildable_releases": sorted(BUILDS),
            "instances": [instance.__dict__ for instance in env.instances],
            "kubeadm_api_server_command": env.kubeadm_command,
        }
        for case in cases(env.release):
            if args.case and case.name not in args.case:
                continue
            print(f"e2e: {case.name} (expect {case.expect}) ...", flush=True)
            try:
                result = run_case(env, case, args.ccm_seconds)
            except Exception as error:  # a case that could not run is a failed case, not a crash
                result = {
                    "name": case.name,
                    "expect": case.expect,
                    "passed": False,
                    "seconds": 0,
                    "ccm_log": str(OUT_DIR / case.name / "ccm.log"),
                    "nodes": [],
                    "problems": [f"the case could not run: {type(error).__name__}: {error}"],
                    "decisive_log_lines": [],
                }
            report["cases"].append(result)
            verdict = "ok" if result["passed"] else "NOT OK"
            print(f"e2e: {case.name}: {verdict} in {result['seconds']}s; log {result['ccm_log']}", flush=True)
            for line in result["decisive_log_lines"][:3]:
                print(f"    {line[:240]}")
            for problem in result["problems"]:
                print(f"    problem: {problem}")
    finally:
        for service in services:
            service.stop()
        stop_all()
        shutil.rmtree(private_dir, ignore_errors=True)
        report["seconds"] = round(time.monotonic() - started, 1)
        (OUT_DIR / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    passed = sum(1 for result in report["cases"] if result["passed"])
    failed = len(report["cases"]) - passed
    print(f"e2e: report {OUT_DIR / 'report.json'}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and report["cases"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
