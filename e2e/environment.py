"""What every case shares: the program's render, moto seeded from it, the instance metadata stand-in,
kubeadm's API server command line, and the enforcing proxy's authorization facts.

`prepare` runs the stack under the mock engine, builds (or finds cached) the binaries, writes the
control plane's PKI, starts moto and replays the program's network, IAM and instances into it
(tools/aws_replay.py: the control planes, and the workers' launch template and Auto Scaling group,
whose instances moto launches), starts the IMDS stand-in for the control plane's instance and the IAM
simulator, and asks the real kubeadm for kube-apiserver's command.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from components.render.bootstrap import BOOTSTRAP_TOKEN, NODE_IPV4, NODE_IPV6, NODE_NAME
from components.settings import IpFamily, parse_settings
from components.versions import Release
from e2e.aws_policies import deployed_control_plane
from e2e.build import Binaries, build
from e2e.cluster import (
    ControlPlaneConfig,
    control_plane_config,
    kubeadm_api_server_command,
    program_cloud_config,
    program_objects,
)
from e2e.imds import InstanceIdentity, MetadataServer
from e2e.moto_state import MotoState
from e2e.pki import write_control_plane_pki
from e2e.procs import Process, free_port, wait_for
from tools import aws_replay
from tools.iam_check.model import NamedPolicy
from tools.iam_check.runner import SimulatorSession, ensure_installed
from tools.iam_check.stack_facts import RoleFacts, StackFacts
from tools.offline.capture import Graph
from tools.offline.engine import run_program
from tools.offline.stackfiles import stack_config

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Instance:
    program_name: str
    """The control plane's logical name, or `<group>-<i>` for the i-th instance (by ID) of a workers'
    Auto Scaling group."""
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
    replay_skipped: list[str] = field(default_factory=list)
    """Resources the replay into moto did not make and the run tolerated (`prepare`'s `tolerate`)."""


def start_metadata_server(instance: Instance, region: str) -> MetadataServer:
    """The instance metadata stand-in of `instance`, started (the CCM reads its own instance there)."""
    return MetadataServer(
        InstanceIdentity(
            instance_id=instance.instance_id,
            availability_zone=instance.availability_zone,
            region=region,
            private_dns_name=instance.node_name,
            private_ipv4=instance.ipv4,
            mac=instance.mac,
            vpc_id=instance.vpc_id,
            subnet_id=instance.subnet_id,
        )
    ).start()


def start_moto(region: str, log_root: Path) -> tuple[Process, str]:
    """moto's server on a free loopback port, answering; its process and URL."""
    port = free_port()
    moto = Process(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_root / "moto.log",
        {**os.environ, **DUMMY_CREDENTIALS},
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(
        "moto",
        lambda: boto3.client("sts", region_name=region, endpoint_url=url, **_boto_credentials()).get_caller_identity(),
        60,
        alive=moto,
    )
    return moto, url


def seed_moto(
    graph: Graph, moto_url: str, region: str, tolerate: tuple[str, ...] = (), skipped: list[str] | None = None
) -> tuple[list[Instance], dict[str, str]]:
    """Replay the program's network, IAM and instances into moto (tools/aws_replay.py); the
    instances (the control planes and every instance the workers' Auto Scaling groups launched, each
    named by moto's private DNS name and addressed as moto says), and the ID the mock engine gave each
    replayed resource -> the ID moto gave it. A resource the replay skipped is an error unless its
    type starts with one of `tolerate`; the tolerated ones are appended to `skipped`."""
    result = aws_replay.replay(graph, moto_url, include_instances=True)
    if result.failures:
        failures = [(call.name, call.operation, call.error) for call in result.failures]
        raise RuntimeError(f"replay into moto failed: {failures}")
    untolerated = [reason for reason in result.skipped.values() if not reason.startswith(tolerate or ("\0",))]
    if untolerated:
        raise RuntimeError(f"replay into moto skipped resources: {result.report()}")
    if skipped is not None:
        skipped += [f"{urn.rsplit('::', 1)[-1]}: {reason}" for urn, reason in sorted(result.skipped.items())]
    planned = aws_replay.planned_resources(graph)
    expected = sum(1 for r in planned if r.type == "aws:ec2/instance:Instance") + sum(
        int(r.inputs["desiredCapacity"]) for r in planned if r.type == "aws:autoscaling/group:Group"
    )
    if len(result.instances) != expected:
        raise RuntimeError(
            f"moto holds {sorted(result.instances)}, expected {expected} instances "
            "(the control planes and the workers' desired capacity)"
        )
    replayed_ids = {
        str(graph.get(urn).id): api_id for urn, api_id in result.ids.items() if graph.get(urn).id is not None
    }
    ids = {name.rsplit("::", 1)[-1]: info.instance_id for name, info in result.instances.items()}
    instances = [seed_instance(moto_url, region, name, instance_id) for name, instance_id in sorted(ids.items())]
    return instances, replayed_ids


def seed_instance(moto_url: str, region: str, program_name: str, instance_id: str) -> Instance:
    """A moto instance as the harness knows it: named and addressed as moto describes it."""
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=moto_url, **_boto_credentials())
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    interface = sorted(described["NetworkInterfaces"], key=lambda eni: eni["Attachment"]["DeviceIndex"])[0]
    ipv6 = [address["Ipv6Address"] for address in interface.get("Ipv6Addresses", [])]
    if not ipv6:
        raise RuntimeError(f"moto instance {instance_id} ({program_name}) has no IPv6 address")
    return Instance(
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


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


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
    stack: str, private_dir: Path, log_root: Path, tolerate: tuple[str, ...] = ()
) -> tuple[Environment, list[Process | MetadataServer | SimulatorSession]]:
    settings = parse_settings(stack_config(stack), stack)
    release = settings.release
    cluster_name, region, families = settings.cluster_name, settings.region, settings.ip_families
    binaries = build(release.minor)
    graph = run_program(stack, preview=False)
    config = control_plane_config(graph, cluster_name)
    objects = program_objects(graph)
    write_control_plane_pki(graph, cluster_name, private_dir / "pki")

    moto, moto_url = start_moto(region, log_root)
    skipped: list[str] = []
    instances, replayed_ids = seed_moto(graph, moto_url, region, tolerate, skipped)
    authorization = prepare_authorization(graph, moto_url, region, replayed_ids)
    control_plane = next(i for i in instances if i.program_name == f"{cluster_name}-control-plane-node")
    imds = start_metadata_server(control_plane, region)
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
        replay_skipped=skipped,
    )
    return env, [moto, imds, authorization.simulator]
