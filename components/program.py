"""The composition root: stack config -> settings -> components -> exports."""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_aws as aws

from components.ami import ubuntu_ami_id
from components.cluster_side import (
    ClusterAccess,
    ClusterAccessArgs,
    ClusterSide,
    ClusterSideArgs,
    install_cluster_side,
)
from components.deployed_state import DeployedVersionRecord, read_deployed_version
from components.firewall import NodeRole
from components.identity import ClusterIdentity, ClusterIdentityArgs
from components.network import DualStackNetwork, DualStackNetworkArgs
from components.network_plan import plan_subnets
from components.nodes import ControlPlane, ControlPlaneArgs, NodeSpec, WorkerPool, WorkerPoolArgs
from components.pki import ClusterPki, ClusterPkiArgs
from components.render.smoke import NODE_ADDRESSES_COMMAND, SERVICE_FAMILIES_COMMAND, SERVICE_IPS_COMMAND
from components.render.verify import worker_group_command
from components.secrets_key import ClusterSecretsKey, ClusterSecretsKeyArgs
from components.settings import (
    AZ_COUNT_RANGE,
    CONFIG_KEYS,
    PROJECT,
    PROVIDER_KEYS,
    REMOVED_KEYS,
    ApiEndpointKind,
    ConfigError,
    ControlPlaneUserData,
    StackSettings,
    parse_settings,
)
from components.settings_reader import ConfigProblem
from components.tags import SubnetTier
from components.topology import api_load_balancer, cluster_bootstrap, control_plane_seats, node_subnet
from components.upgrade import ControlPlaneUpgrade, ControlPlaneUpgradeArgs
from components.version_skew import ChangeKind, VersionChange, plan_version_change


def read_raw_config() -> dict[str, str]:
    """The config strings the engine passed (Pulumi.yaml defaults already applied), and removed keys
    a stack file still sets (the engine passes a stack's keys whether the project declares them or not)."""
    keys = [f"{PROJECT}:{key}" for key in (*CONFIG_KEYS, *REMOVED_KEYS)] + list(PROVIDER_KEYS)
    raw = {key: pulumi.runtime.get_config(key) for key in keys}
    return {key: value for key, value in raw.items() if value is not None}


def resolve_zones(settings: StackSettings) -> tuple[str, ...]:
    """Explicit zones, else the first N available default (not opt-in) zones of the region."""
    network = settings.network
    if network.availability_zones:
        return network.availability_zones
    offered = aws.get_availability_zones(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    ).names
    zones = tuple(sorted(offered))[: network.availability_zone_count]
    if len(zones) < network.availability_zone_count:
        raise ConfigError(
            [
                ConfigProblem(
                    "availabilityZoneCount",
                    network.availability_zone_count,
                    f"at most the {len(zones)} zones {settings.region} offers ({', '.join(zones)}); "
                    f"range {AZ_COUNT_RANGE[0]}-{AZ_COUNT_RANGE[1]}",
                )
            ]
        )
    return zones


def build(settings: StackSettings, zones: tuple[str, ...], change: VersionChange | None = None) -> None:
    """`change`: from the deployed version to the stack's (None: a new stack)."""
    change = change or VersionChange(ChangeKind.NEW, None, settings.release.version)
    name = settings.cluster_name
    release = settings.release
    net_settings, node_settings, topology = settings.network, settings.nodes, settings.topology
    plans = plan_subnets(
        name, net_settings.vpc_ipv4_cidr, net_settings.subnet_ipv4_prefix_length, zones, net_settings.private_subnets
    )
    network = DualStackNetwork(
        name,
        DualStackNetworkArgs(
            cluster_name=name,
            vpc_ipv4_cidr=net_settings.vpc_ipv4_cidr,
            subnets=plans,
            nat_gateway=net_settings.nat_gateway,
            admin_cidrs=net_settings.admin_cidrs,
            api_load_balancer=topology.api_endpoint is ApiEndpointKind.NLB,
        ),
    )
    identity = ClusterIdentity(
        name,
        ClusterIdentityArgs(
            cluster_name=name,
            release=release,
            region=settings.region,
            ssm_prefix=settings.ssm_prefix,
            vpc_id=network.vpc.id,
        ),
    )
    # The key policy names both node roles, so the roles exist first; the parameters name the key.
    secrets_key = ClusterSecretsKey(
        name,
        ClusterSecretsKeyArgs(
            cluster_name=name,
            region=settings.region,
            ssm_prefix=settings.ssm_prefix,
            alias=settings.secrets_key_alias,
            control_plane_role_arn=identity.roles[NodeRole.CONTROL_PLANE].arn,
            worker_role_arn=identity.roles[NodeRole.WORKER].arn,
        ),
    )
    pki = ClusterPki(
        name,
        ClusterPkiArgs(
            cluster_name=name,
            ssm_prefix=settings.ssm_prefix,
            ca_validity_hours=settings.pki.ca_validity_hours,
            cert_validity_hours=settings.pki.cert_validity_hours,
            key_id=secrets_key.key_arn,
        ),
    )

    seats = control_plane_seats(network, plans, topology.control_plane_count)
    load_balancer = api_load_balancer(settings, network, plans)
    # Where the nodes and Cilium reach the API server: the load balancer, or the one control plane's
    # fixed private address (its Elastic IP is for pulumi and kubectl).
    api_host: pulumi.Input[str] = load_balancer.host if load_balancer else seats[0].private_ipv4
    cluster = cluster_bootstrap(settings, api_host)
    ami_id = node_settings.ami_id or ubuntu_ami_id(release.ubuntu_release, node_settings.architecture)

    # Each role boots only once the parameters it reads (workers: just the join token), the key
    # whose policy lets it decrypt them and the IAM policies that let it read them exist.
    boot_reads = {
        NodeRole.CONTROL_PLANE: [*pki.parameters, secrets_key.key, *identity.policies[NodeRole.CONTROL_PLANE]],
        NodeRole.WORKER: [pki.bootstrap_token_parameter, secrets_key.key, *identity.policies[NodeRole.WORKER]],
    }

    def node_spec(role: NodeRole, instance_type: str) -> NodeSpec:
        return NodeSpec(
            instance_type=instance_type,
            root_volume_size_gib=node_settings.root_volume_size_gib,
            ami_id=ami_id,
            security_group_id=network.security_groups[role].id,
            instance_profile_name=identity.instance_profiles[role].name,
            boot_dependencies=boot_reads[role],
        )

    control_plane = ControlPlane(
        f"{name}-control-plane",
        ControlPlaneArgs(
            cluster_name=name,
            cluster=cluster,
            node=node_spec(NodeRole.CONTROL_PLANE, node_settings.control_plane_instance_type),
            seats=seats,
            load_balancer=load_balancer,
            cluster_ca_cert_pem=pki.cluster_ca_cert_pem,
            replace_on_user_data_change=_replace_control_planes(settings, change),
        ),
    )
    upgrade = None
    if change.upgrades_in_place:
        upgrade = ControlPlaneUpgrade(
            f"{name}-upgrade",
            ControlPlaneUpgradeArgs(
                cluster_name=name,
                release=release,
                architecture=node_settings.architecture,
                instance_ids=[instance.id for instance in control_plane.instances],
            ),
        )
    access = ClusterAccess(
        f"{name}-cluster",
        ClusterAccessArgs(
            cluster_name=name,
            endpoint=control_plane.endpoint,
            cluster_ca_cert_pem=pki.cluster_ca_cert_pem,
            admin_cert_pem=pki.admin_cert_pem,
            admin_key_pem=pki.admin_key_pem,
            control_plane=[*control_plane.instances, *control_plane.routes],
            kubernetes_version=release.kubernetes_version,
            upgrade_steps=upgrade.steps if upgrade else (),
        ),
    )
    cluster_side = install_cluster_side(
        ClusterSideArgs(
            release=release,
            cluster_name=name,
            region=settings.region,
            zone=seats[0].zone,
            ip_families=settings.ip_families,
            ccm_image=settings.effective_ccm_image,
            smoke_workload=settings.cluster_side.smoke_workload,
            api_server_host=api_host,
            cluster_ca_cert_pem=pki.cluster_ca_cert_pem,
            front_proxy_ca_cert_pem=pki.front_proxy_ca_cert_pem,
            provider=access.provider,
        )
    )

    worker_node = node_spec(NodeRole.WORKER, node_settings.worker_instance_type)
    if change.upgrades_in_place:
        # Workers of the new release only once the control planes and the CCM run it.
        worker_node = dataclasses.replace(
            worker_node, boot_dependencies=[*worker_node.boot_dependencies, *cluster_side.ccm.objects]
        )
    worker_tier = SubnetTier.PRIVATE if net_settings.private_subnets else SubnetTier.PUBLIC
    workers = WorkerPool(
        f"{name}-workers",
        WorkerPoolArgs(
            cluster_name=name,
            cluster=cluster,
            node=worker_node,
            subnets=[node_subnet(network, plan.name) for plan in plans if plan.tier is worker_tier],
            scaling=topology.workers,
            cluster_ca_cert_pem=pki.cluster_ca_cert_pem,
        ),
    )

    DeployedVersionRecord(
        f"{name}-deployed-version",
        cluster_name=name,
        ssm_prefix=settings.ssm_prefix,
        release=release,
        after=[workers.group, *cluster_side.ccm.objects, *cluster_side.cni_resources, access.version],
    )

    _export(
        settings,
        network=network,
        control_plane=control_plane,
        workers=workers,
        pki=pki,
        secrets_key=secrets_key,
        access=access,
        cluster_side=cluster_side,
    )


def _export(
    settings: StackSettings,
    *,
    network: DualStackNetwork,
    control_plane: ControlPlane,
    workers: WorkerPool,
    pki: ClusterPki,
    secrets_key: ClusterSecretsKey,
    access: ClusterAccess,
    cluster_side: ClusterSide,
) -> None:
    pulumi.export("kubernetesVersion", settings.release.kubernetes_version)
    pulumi.export("ccmImage", settings.effective_ccm_image)
    pulumi.export("vpcId", network.vpc.id)
    pulumi.export("vpcIpv6CidrBlock", network.vpc.ipv6_cidr_block)
    pulumi.export("subnetIds", {plan_name: subnet.id for plan_name, subnet in network.subnets.items()})
    pulumi.export("controlPlaneEndpoint", control_plane.endpoint)
    pulumi.export("apiServerHost", control_plane.host)
    pulumi.export("controlPlaneIpv6", control_plane.ipv6)
    pulumi.export("controlPlaneInstanceIds", [instance.id for instance in control_plane.instances])
    pulumi.export(
        "controlPlaneAddresses",
        {
            node_name: {"ipv4": node.private_ip, "ipv6": node.ipv6_addresses.apply(lambda a: a[0] if a else None)}
            for node_name, node in control_plane.nodes.items()
        },
    )
    pulumi.export("workerAutoScalingGroup", workers.group_name)
    pulumi.export("verifyWorkers", workers.group_name.apply(worker_group_command))
    pulumi.export("clusterCaCertificate", pki.cluster_ca_cert_pem)
    pulumi.export("frontProxyCaCertificate", pki.front_proxy_ca_cert_pem)
    pulumi.export("etcdCaCertificate", pki.etcd_ca_cert_pem)
    pulumi.export("ssmParameterPrefix", settings.ssm_prefix)
    pulumi.export("secretsKeyArn", secrets_key.key_arn)
    pulumi.export("kubeconfig", access.kubeconfig)
    pulumi.export("verifyNodeAddresses", NODE_ADDRESSES_COMMAND)
    if cluster_side.smoke is not None:
        pulumi.export("verifyServiceIps", SERVICE_IPS_COMMAND)
        pulumi.export("verifyServiceFamilies", SERVICE_FAMILIES_COMMAND)
        pulumi.export("smokeServiceClusterIps", cluster_side.smoke.service_cluster_ips)


def _replace_control_planes(settings: StackSettings, change: VersionChange) -> bool:
    """Whether new control-plane user data replaces the instances: on a rebuild, and with
    `controlPlaneUserData: replace` — except during an in-place upgrade, which must keep them."""
    replace = settings.nodes.control_plane_user_data is ControlPlaneUserData.REPLACE
    if replace and change.upgrades_in_place:
        pulumi.log.warn(
            f"controlPlaneUserData: replace is not applied while upgrading {change.deployed} -> {change.target} in "
            "place: the control planes are upgraded by kubeadm, not replaced. Run `pulumi up` once more after "
            "the upgrade to replace them with the new release's user data."
        )
        return False
    return replace or change.rebuilds


def run() -> None:
    """Entry point of `__main__.py`: fails on bad config, and on a version change the rules refuse,
    before registering any resource."""
    settings = parse_settings(read_raw_config(), pulumi.get_stack())
    change = plan_version_change(
        read_deployed_version(settings.ssm_prefix), settings.release, settings.allow_version_rebuild
    )
    if change.deployed is not None and change.kind is not ChangeKind.UNCHANGED:
        pulumi.log.info(f"Kubernetes {change.deployed} -> {change.target}: {change.kind.value}")
    build(settings, resolve_zones(settings), change)
