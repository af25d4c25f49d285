"""Data tables of the benchmark: creation times per resource type and per boot step.

Every row carries its basis and source. Nothing here was measured against AWS (this project has
no cloud account): a `basis` of "estimate" is a reasoned guess, "code" is read from this
repository, "documented" is a number stated by the cited page. The prices are in
`tools.bench.prices` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.bench.prices import (
    HOURS_PER_MONTH,
    HOURS_SOURCE,
    PRICE_DATE,
    PRICE_NOTE,
    PRICES,
    Price,
)

__all__ = ["HOURS_PER_MONTH", "HOURS_SOURCE", "PRICES", "PRICE_DATE", "PRICE_NOTE", "Price"]


@dataclass(frozen=True)
class Step:
    """One timed step of creating a resource."""

    key: str
    seconds: float
    basis: str
    """"estimate", "code" or "documented" - never "measured" without a measurement."""
    source: str


_EC2_API = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/"
_EST_API = "estimate: one or two synchronous EC2 API calls plus the provider's read-back"

STEPS: tuple[Step, ...] = (
    Step(
        "vpc",
        5,
        "estimate",
        "CreateVpc, then the provider waits for the Amazon IPv6 /56 to be "
        f"`associated` and sets the DNS attributes ({_EC2_API}API_CreateVpc.html)",
    ),
    Step("subnet", 3, "estimate", f"{_EST_API}: CreateSubnet + ModifySubnetAttribute for IPv6/DNS flags"),
    Step("internet-gateway", 3, "estimate", f"{_EST_API}: create + attach"),
    Step("egress-only-gateway", 2, "estimate", _EST_API),
    Step("route-table", 2, "estimate", _EST_API),
    Step("route", 1, "estimate", _EST_API),
    Step("route-table-association", 1, "estimate", _EST_API),
    Step("subnet-cidr-reservation", 1, "estimate", f"{_EST_API}: CreateSubnetCidrReservation"),
    Step("security-group", 3, "estimate", f"{_EST_API}: create + revoke the default egress rule"),
    Step("security-group-rule", 1, "estimate", _EST_API),
    Step("elastic-ip", 1, "estimate", _EST_API),
    Step("eip-association", 2, "estimate", _EST_API),
    Step(
        "nat-gateway",
        120,
        "estimate",
        "the provider waits for `available`; AWS documents the "
        "pending/available states but no duration (https://docs.aws.amazon.com/vpc/latest/userguide/"
        "nat-gateway-working-with.html); 1-3 min is the commonly reported range",
    ),
    Step(
        "network-load-balancer",
        180,
        "estimate",
        "CreateLoadBalancer, then the provider waits for the state `active`; AWS documents the "
        "provisioning/active states but no duration (https://docs.aws.amazon.com/elasticloadbalancing/"
        "latest/network/network-load-balancers.html); a few minutes is the commonly reported range",
    ),
    Step("target-group", 1, "estimate", "CreateTargetGroup + ModifyTargetGroupAttributes (ELBv2 API)"),
    Step("listener", 1, "estimate", "one CreateListener call"),
    Step(
        "target-attachment",
        1,
        "estimate",
        "one RegisterTargets call; the health checks that make the target healthy run afterwards, not awaited",
    ),
    Step("launch-template", 1, "estimate", f"one CreateLaunchTemplate call ({_EC2_API}API_CreateLaunchTemplate.html)"),
    Step(
        "autoscaling-group",
        45,
        "estimate",
        "CreateAutoScalingGroup, then the provider waits (wait_for_capacity_timeout, 10 min by default) until "
        "desired_capacity instances are InService with EC2 health checks: about one instance-running step plus "
        "the group's launch activity (https://docs.aws.amazon.com/autoscaling/ec2/userguide/"
        "ec2-auto-scaling-lifecycle.html gives the states, not a duration)",
    ),
    Step("iam-role", 2, "estimate", "one IAM API call"),
    Step("iam-policy", 1, "estimate", "one IAM API call"),
    Step(
        "instance-profile",
        10,
        "estimate",
        "create + add role; IAM is eventually consistent "
        "(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html) and RunInstances "
        "rejects a profile that has not propagated, so providers retry; ~10 s assumed",
    ),
    Step(
        "ssm-parameter",
        1,
        "estimate",
        "one PutParameter call (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html)",
    ),
    Step(
        "kms-key",
        5,
        "estimate",
        "CreateKey with the key policy (the provider retries while the named roles propagate), "
        "EnableKeyRotation, then it polls GetKeyPolicy until the policy reads back",
    ),
    Step("kms-alias", 1, "estimate", "one CreateAlias call"),
    Step("local-key", 1, "estimate", "pulumi-tls generates an RSA-2048 key locally (Go crypto, well under 1 s)"),
    Step("local-cert", 0.5, "estimate", "pulumi-tls signs locally"),
    Step("local-random", 0.2, "estimate", "pulumi-random, local"),
    Step(
        "instance-running",
        30,
        "estimate",
        "RunInstances, then the provider waits for `running` "
        "(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html gives the "
        "states, not a duration); 10-40 s is typical for a t3",
    ),
    Step(
        "os-boot",
        45,
        "estimate",
        "kernel + systemd + cloud-init until `runcmd` on an Ubuntu cloud image; "
        "`cloud-init analyze show` (https://cloudinit.readthedocs.io/en/latest/reference/cli.html) "
        "measures it on a real node",
    ),
    Step(
        "node-packages",
        60,
        "estimate",
        "cloud-init `package_update` + 9 apt packages incl. containerd "
        "(components/render/cloudinit.py PACKAGES) from the regional Ubuntu mirror",
    ),
    Step(
        "node-binaries",
        15,
        "estimate",
        "kubeadm, kubelet, kubectl (~150 MB) from dl.k8s.io + sha256 "
        "checks, crictl from GitHub (components/render/scripts.py)",
    ),
    Step(
        "kubeadm-init",
        75,
        "estimate",
        "image pull of the control-plane images + static pods healthy; "
        "kubeadm's own wait for a healthy control plane is 4m0s, a timeout, not a typical time "
        "(https://kubernetes.io/docs/reference/setup-tools/kubeadm/kubeadm-init/)",
    ),
    Step(
        "readyz-poll",
        5,
        "code",
        "components/readiness.py POLL_INTERVAL_SECONDS = 10: on average half an interval after the API server is ready",
    ),
    Step(
        "cluster-probe",
        25,
        "code",
        "several control planes: before `kubeadm init` the first asks the others' etcd whether a cluster "
        "runs (components/render/scripts.py CLUSTER_PROBES = 3, CLUSTER_PROBE_SECONDS = 5, plus etcdctl's "
        "unanswered dials; its comment: ~15-30 s)",
    ),
    Step(
        "nlb-target-healthy",
        20,
        "code",
        "the target group's healthy threshold x interval, read from the stack's target group "
        "(components/api_endpoint.py: 2 x 10 s) after /readyz first answers; this row is the fallback",
    ),
    Step(
        "join-retry-wait",
        7.5,
        "code",
        "a joining node that found no cluster retries every JOIN_RETRY_SECONDS = 15 "
        "(components/render/scripts.py): on average half an interval after the first control plane answers",
    ),
    Step(
        "kubeadm-join-control-plane",
        60,
        "estimate",
        "`kubeadm join --control-plane`: the control-plane images pulled, the etcd member added and synced "
        "(an almost empty etcd), static pods healthy; like kubeadm-init without the addons and the wait for the "
        "first etcd",
    ),
    Step(
        "kubeadm-join-worker",
        20,
        "estimate",
        "`kubeadm join`: discovery with the pinned CA, TLS bootstrap of the kubelet certificate, kubelet "
        "start; the Node is Ready only once Cilium runs on it (not modelled)",
    ),
    Step("k8s-provider", 1, "estimate", "provider configuration only, no cloud call"),
    Step(
        "k8s-object",
        1,
        "estimate",
        "one API request; the installed pulumi-kubernetes SDK docstrings promise a "
        'readiness wait for Deployment and Service ("This resource waits until its status is ready"), none '
        "for Secret, ConfigMap, Namespace, ServiceAccount or RBAC kinds",
    ),
    Step(
        "k8s-service",
        2,
        "estimate",
        "pulumi-kubernetes awaits a Service's endpoints (its docstring; "
        "https://www.pulumi.com/registry/packages/kubernetes/api-docs/core/v1/service/); the pods are already Ready",
    ),
    Step(
        "ccm-daemonset",
        40,
        "estimate",
        "pulumi-kubernetes awaits DaemonSet rollout since https://github.com/"
        "pulumi/pulumi-kubernetes/pull/2953 (not in the 4.34 SDK docstring): CCM image pull + start",
    ),
    Step(
        "cilium-release",
        150,
        "estimate",
        'Helm install; the Release "waits until all resources are in a ready '
        'state" unless skipAwait (SDK docstring, https://www.pulumi.com/registry/packages/kubernetes/api-docs/'
        "helm/v3/release/): chart fetch, cilium agent (~200 MB image) and operator Ready",
    ),
    Step(
        "smoke-deployment",
        60,
        "estimate",
        "awaits Ready pods, which need a Ready worker: kubeadm join after "
        "the API server answers, Cilium on it, the CCM's uninitialized taint removed, then the agnhost pull "
        "- runtime waits that are not edges of the graph",
    ),
)

STEP_BY_KEY = {step.key: step for step in STEPS}

NODE_BOOT = ("os-boot", "node-packages", "node-binaries")
"""Every node, from `running` until its boot script reaches kubeadm (`tools.bench.runtime`)."""
READINESS_GATE = ("readyz-poll",)
"""The gate's own time once the endpoint answers; what it waits for (boot, kubeadm init, the load
balancer's health check) are runtime steps (`tools.bench.runtime`), not part of the gate."""

TYPE_STEPS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("vpc",),
    "aws:ec2/subnet:Subnet": ("subnet",),
    "aws:ec2/internetGateway:InternetGateway": ("internet-gateway",),
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": ("egress-only-gateway",),
    "aws:ec2/routeTable:RouteTable": ("route-table",),
    "aws:ec2/route:Route": ("route",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("route-table-association",),
    "aws:ec2/subnetCidrReservation:SubnetCidrReservation": ("subnet-cidr-reservation",),
    "aws:ec2/securityGroup:SecurityGroup": ("security-group",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("security-group-rule",),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("security-group-rule",),
    "aws:ec2/eip:Eip": ("elastic-ip",),
    "aws:ec2/eipAssociation:EipAssociation": ("eip-association",),
    "aws:ec2/natGateway:NatGateway": ("nat-gateway",),
    "aws:ec2/instance:Instance": ("instance-running",),
    "aws:ec2/launchTemplate:LaunchTemplate": ("launch-template",),
    "aws:autoscaling/group:Group": ("autoscaling-group",),
    "aws:lb/loadBalancer:LoadBalancer": ("network-load-balancer",),
    "aws:lb/targetGroup:TargetGroup": ("target-group",),
    "aws:lb/listener:Listener": ("listener",),
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": ("target-attachment",),
    "aws:iam/role:Role": ("iam-role",),
    "aws:iam/rolePolicy:RolePolicy": ("iam-policy",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam-policy",),
    "aws:iam/instanceProfile:InstanceProfile": ("instance-profile",),
    "aws:ssm/parameter:Parameter": ("ssm-parameter",),
    "aws:kms/key:Key": ("kms-key",),
    "aws:kms/alias:Alias": ("kms-alias",),
    "tls:index/privateKey:PrivateKey": ("local-key",),
    "tls:index/selfSignedCert:SelfSignedCert": ("local-cert",),
    "tls:index/certRequest:CertRequest": ("local-cert",),
    "tls:index/locallySignedCert:LocallySignedCert": ("local-cert",),
    "random:index/randomString:RandomString": ("local-random",),
    "pulumi-python:dynamic:Resource": READINESS_GATE,
    "pulumi:providers:kubernetes": ("k8s-provider",),
    "kubernetes:core/v1:Namespace": ("k8s-object",),
    "kubernetes:core/v1:Secret": ("k8s-object",),
    "kubernetes:core/v1:ConfigMap": ("k8s-object",),
    "kubernetes:core/v1:ServiceAccount": ("k8s-object",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": ("k8s-object",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("k8s-object",),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ("k8s-object",),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("k8s-object",),
    "kubernetes:core/v1:Service": ("k8s-service",),
    "kubernetes:apps/v1:DaemonSet": ("ccm-daemonset",),
    "kubernetes:helm.sh/v3:Release": ("cilium-release",),
    "kubernetes:apps/v1:Deployment": ("smoke-deployment",),
}

PARALLELISM_NOTE = (
    "Pulumi runs independent operations concurrently; `pulumi up --parallel` defaults to unbounded "
    "(https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/), so the modelled duration is the critical "
    "path. Not modelled: EC2 API throttling (https://docs.aws.amazon.com/ec2/latest/devguide/"
    "ec2-api-throttling.html), plugin start-up and program evaluation (section 1)."
)


def type_seconds(type_token: str) -> float | None:
    """Modelled creation time of one resource of this type; None when the table has no row."""
    keys = TYPE_STEPS.get(type_token)
    return None if keys is None else sum(STEP_BY_KEY[key].seconds for key in keys)
