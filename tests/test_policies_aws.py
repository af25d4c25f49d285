"""AWS rules of the pack, each passing on the rendered stacks and failing on a realistic edit of them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from conftest import RenderGraph

from components.render.user_data_encoding import decode_user_data, encode_user_data
from policies.aws_secrets import ACCOUNT_WIDE_PARAMETER_READERS, account_wide_parameter_reads
from tools.policy_report import Captured, captured_from_graph, edit_resources, named, run_policy

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
CONTROL_PLANE = "dev-control-plane-node"
ADMIN = {"allowedAdminCidrs": ["192.0.2.0/24", "2001:db8:100::/48"]}
TAG_KEY = {"clusterTagKey": "kubernetes.io/cluster/dev"}
# A truncated, unusable key: only its PEM armour matters here (split so no scanner takes it for a leak).
KEY_HEADER = "-----BEGIN EC " + "PRIVATE KEY-----"
KEY_PEM = KEY_HEADER + "\nMHcCAQEEIB4=\n-----END EC " + "PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def dev(render_graph: RenderGraph) -> list[Captured]:
    return captured_from_graph(render_graph("dev"))


def messages(policy: str, resources: list[Captured], config: dict[str, Any] | None = None) -> list[str]:
    return [violation.message for violation in run_policy(policy, resources, config)]


def edited(resource: Captured, edit: Any) -> Captured:
    return edit_resources([resource], lambda _: True, edit)[0]


def launch_template(instance: Captured, user_data: str | None = None) -> Captured:
    """A launch template with the instance's settings, shaped as pulumi-aws writes them."""
    props = instance.inputs
    data = user_data if user_data is not None else decode_user_data(props["userDataBase64"])
    return Captured(
        LAUNCH_TEMPLATE,
        "dev-workers",
        instance.urn.replace(INSTANCE, LAUNCH_TEMPLATE),
        {
            "imageId": props["ami"],
            "instanceType": props["instanceType"],
            "metadataOptions": dict(props["metadataOptions"]),
            "iamInstanceProfile": {"name": props["iamInstanceProfile"]},
            "blockDeviceMappings": [{"deviceName": "/dev/sda1", "ebs": {"encrypted": "true", "volumeSize": 30.0}}],
            "tagSpecifications": [{"resourceType": "instance", "tags": dict(props["tags"])}],
            "userData": base64.b64encode(data.encode()).decode(),
            "vpcSecurityGroupIds": list(props["vpcSecurityGroupIds"]),
        },
    )


# -- network ---------------------------------------------------------------------------------


def test_vpc_has_ipv6(dev: list[Captured]) -> None:
    assert messages("vpc-has-ipv6", dev) == []
    without = edit_resources(dev, lambda r: r.type == VPC, lambda p: p.pop("assignGeneratedIpv6CidrBlock"))
    assert messages("vpc-has-ipv6", without) == [
        "VPC 'dev-vpc' has no IPv6 block: set assign_generated_ipv6_cidr_block=True (an Amazon /56) so subnets and "
        "nodes can be dual-stack."
    ]
    vpc = named(without, VPC, "dev-vpc")
    association = Captured(
        "aws:ec2/vpcIpv6CidrBlockAssociation:VpcIpv6CidrBlockAssociation",
        "v6",
        "urn:v6",
        {"vpcId": "vpc-1", "ipv6IpamPoolId": "ipam-pool-1"},
        property_dependencies={"vpcId": (vpc.urn,)},
    )
    assert messages("vpc-has-ipv6", [*without, association]) == []


def test_subnets_get_a_64_and_assign_ipv6(dev: list[Captured]) -> None:
    subnet = named(dev, SUBNET, "dev-public-us-east-1a")
    assert messages("subnet-ipv6-64", [subnet]) == messages("subnet-assigns-ipv6-on-creation", [subnet]) == []
    wide = edited(subnet, lambda p: p.update(ipv6CidrBlock="2600:1f18:a205:de00::/56"))
    assert messages("subnet-ipv6-64", [wide]) == [
        "Subnet 'dev-public-us-east-1a' has IPv6 block '2600:1f18:a205:de00::/56', not a /64 of the VPC's /56: set "
        "ipv6_cidr_block to one /64 per subnet (EC2 only assigns IPv6 addresses from /64 subnets)."
    ]
    assert len(messages("subnet-ipv6-64", [edited(subnet, lambda p: p.pop("ipv6CidrBlock"))])) == 1
    no_assign = edited(subnet, lambda p: p.update(assignIpv6AddressOnCreation=False))
    assert "does not assign IPv6 on creation" in messages("subnet-assigns-ipv6-on-creation", [no_assign])[0]
    assert messages("subnet-assigns-ipv6-on-creation", [edited(no_assign, lambda p: p.update(ipv6Native=True))]) == []


def _world(port: int, protocol: str = "tcp") -> Any:
    def edit(props: dict[str, Any]) -> None:
        props.update(fromPort=float(port), toPort=float(port), ipProtocol=protocol, cidrIpv4="0.0.0.0/0")

    return edit


@pytest.mark.parametrize("port", [22, 2379, 2380, 10250])
def test_no_world_ssh_etcd_kubelet(dev: list[Captured], port: int) -> None:
    assert messages("no-world-ssh-etcd-kubelet", dev) == []  # ICMP from anywhere (PMTU) stays allowed
    rule = named(dev, INGRESS, "dev-control-plane-apiserver-from-admin-0")
    found = messages("no-world-ssh-etcd-kubelet", [edited(rule, _world(port))])
    assert len(found) == 1 and f"opens {port} (" in found[0] and "to 0.0.0.0/0" in found[0]
    assert messages("no-world-ssh-etcd-kubelet", [edited(rule, _world(port, "udp"))]) == []


def test_world_ports_in_inline_and_legacy_rules(dev: list[Captured]) -> None:
    group = named(dev, SECURITY_GROUP, "dev-worker")
    inline = edited(
        group,
        lambda p: p.update(ingress=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "ipv6CidrBlocks": ["::/0"]}]),
    )
    assert (
        "22 (SSH), 2379 (etcd client), 2380 (etcd peer), 10250 (kubelet API) to ::/0"
        in messages("no-world-ssh-etcd-kubelet", [inline])[0]
    )
    legacy = Captured(
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "etcd",
        "urn:etcd",
        {
            "type": "ingress",
            "protocol": "tcp",
            "fromPort": 2379.0,
            "toPort": 2380.0,
            "cidrBlocks": ["0.0.0.0/0"],
            "securityGroupId": "sg-0ece11ba6a549124f",
        },
    )
    assert len(messages("no-world-ssh-etcd-kubelet", [legacy])) == 1
    assert messages("no-world-ssh-etcd-kubelet", [edited(legacy, lambda p: p.update(type="egress"))]) == []


def test_api_server_only_from_admin_cidrs(dev: list[Captured]) -> None:
    assert messages("api-server-admin-cidrs-only", dev, ADMIN) == []
    v6 = named(dev, INGRESS, "dev-control-plane-apiserver-from-admin-1")
    world = edited(v6, lambda p: p.update(cidrIpv6="::/0"))
    assert messages("api-server-admin-cidrs-only", [world]) == [
        "Security group rule 'dev-control-plane-apiserver-from-admin-1' opens the API server (6443) to ::/0: allow "
        "only your admin CIDRs (policy config allowedAdminCidrs) and the cluster's own security groups."
    ]
    v4 = named(dev, INGRESS, "dev-control-plane-apiserver-from-admin-0")
    other = edited(v4, lambda p: p.update(cidrIpv4="198.51.100.0/24"))
    assert "allow only 192.0.2.0/24, 2001:db8:100::/48" in messages("api-server-admin-cidrs-only", [other], ADMIN)[0]
    assert messages("api-server-admin-cidrs-only", [other]) == []  # without config only the world is refused
    inside = edited(v4, lambda p: p.update(cidrIpv4="192.0.2.128/25"))
    private = edited(v4, lambda p: p.update(cidrIpv4="10.0.0.0/16"))
    assert messages("api-server-admin-cidrs-only", [inside, private], ADMIN) == []


@pytest.mark.parametrize(
    ("type_token", "name"),
    [
        (INSTANCE, CONTROL_PLANE),
        (SUBNET, "dev-public-us-east-1b"),
        (SECURITY_GROUP, "dev-worker"),
        (ROUTE_TABLE, "dev-public"),
    ],
)
def test_cluster_tag(dev: list[Captured], type_token: str, name: str) -> None:
    resource = named(dev, type_token, name)
    assert messages("cluster-tag", [resource], TAG_KEY) == messages("cluster-tag", [resource]) == []
    untagged = edited(resource, lambda p: p["tags"].pop("kubernetes.io/cluster/dev"))
    assert messages("cluster-tag", [untagged], TAG_KEY) == [
        f"'{name}' lacks the cluster tag kubernetes.io/cluster/dev = owned|shared on it: the CCM finds instances, "
        "subnets, security groups and route tables by it ('AWS cloud failed to find ClusterID'). Tag it through "
        "components/tags.py."
    ]
    assert len(messages("cluster-tag", [resource], {"clusterTagKey": "kubernetes.io/cluster/other"})) == 1
    wrong_value = edited(resource, lambda p: p["tags"].update({"kubernetes.io/cluster/dev": "yes"}))
    assert len(messages("cluster-tag", [wrong_value])) == 1


def test_cluster_tag_from_provider_default_tags_and_launch_templates(dev: list[Captured]) -> None:
    instance = edited(named(dev, INSTANCE, CONTROL_PLANE), lambda p: p["tags"].pop("kubernetes.io/cluster/dev"))
    provider = Captured(
        "pulumi:providers:aws",
        "tagged",
        "urn:provider",
        {"region": "us-east-1", "defaultTags": {"tags": {"kubernetes.io/cluster/dev": "owned"}}},
    )
    with_provider = Captured(**{**vars(instance), "provider_urn": provider.urn})
    assert messages("cluster-tag", [with_provider, provider], TAG_KEY) == []
    template = named(dev, LAUNCH_TEMPLATE, "dev-workers")  # the workers' own, as the program writes it
    assert messages("cluster-tag", [template], TAG_KEY) == []
    bare = edited(template, lambda p: p.update(tagSpecifications=[{"resourceType": "volume", "tags": {"a": "b"}}]))
    assert "on the instances it launches (tag_specifications)" in messages("cluster-tag", [bare], TAG_KEY)[0]


def test_one_cluster_security_group_per_instance(dev: list[Captured]) -> None:
    policy = "one-cluster-security-group-per-instance"
    assert messages(policy, dev, TAG_KEY) == []
    worker_group = named(dev, SECURITY_GROUP, "dev-worker").outputs["id"]

    def control_plane(resource: Captured) -> bool:
        return resource.type == INSTANCE and resource.name == CONTROL_PLANE

    two = edit_resources(dev, control_plane, lambda p: p["vpcSecurityGroupIds"].append(worker_group))
    assert messages(policy, two, TAG_KEY) == [
        "'dev-control-plane-node' has 2 cluster-tagged security groups (dev-control-plane, dev-worker): the CCM "
        "needs exactly one per instance to add load-balancer rules; tag only one of them."
    ]
    untagged = edit_resources(
        dev,
        lambda r: r.type == SECURITY_GROUP and r.name == "dev-control-plane",
        lambda p: p["tags"].pop("kubernetes.io/cluster/dev"),
    )
    assert messages(policy, untagged, TAG_KEY) == [
        "'dev-control-plane-node' has no cluster-tagged security group: attach exactly one security group tagged "
        "kubernetes.io/cluster/dev = owned."
    ]
    default_group_only = edit_resources(dev, control_plane, lambda p: p.pop("vpcSecurityGroupIds"))
    assert messages(policy, default_group_only, TAG_KEY)[0].startswith("'dev-control-plane-node' has no cluster-tagged")
    foreign = edit_resources(untagged, control_plane, lambda p: p["vpcSecurityGroupIds"].append("sg-0123456789abcdef0"))
    assert messages(policy, foreign, TAG_KEY) == []  # a group outside the stack: its tags cannot be told


# -- nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["metadataOptions"].update(httpTokens="optional"), "allows IMDSv1 (http_tokens=optional)"),
        (lambda p: p.pop("metadataOptions"), "allows IMDSv1 (http_tokens=unset (optional))"),
        (lambda p: p["metadataOptions"].update(httpPutResponseHopLimit=3.0), "has IMDS hop limit 3"),
    ],
    ids=["optional", "unset", "hop-limit-3"],
)
def test_imdsv2_required(dev: list[Captured], edit: Any, expected: str) -> None:
    instance, template = named(dev, INSTANCE, CONTROL_PLANE), named(dev, LAUNCH_TEMPLATE, "dev-workers")
    assert messages("imdsv2-required", [instance, template]) == []
    found = messages("imdsv2-required", [edited(instance, edit), edited(template, edit)])
    assert len(found) == 2 and all(expected in message for message in found)


def test_instance_profile_required(dev: list[Captured]) -> None:
    instance = named(dev, INSTANCE, CONTROL_PLANE)
    template = launch_template(instance)
    assert messages("instance-profile-required", [instance, template]) == []
    found = messages(
        "instance-profile-required",
        [
            edited(instance, lambda p: p.pop("iamInstanceProfile")),
            edited(template, lambda p: p.update(iamInstanceProfile={})),
        ],
    )
    assert found == [
        f"'{name}' has no IAM instance profile: the CCM and the node bootstrap call AWS APIs with the instance role; "
        "set iam_instance_profile (components/identity.py)."
        for name in (CONTROL_PLANE, "dev-workers")
    ]


def test_encrypted_volumes(dev: list[Captured]) -> None:
    instance = named(dev, INSTANCE, CONTROL_PLANE)
    template = launch_template(instance)
    volume = Captured(
        "aws:ebs/volume:Volume", "data", "urn:data", {"availabilityZone": "us-east-1a", "size": 10.0, "encrypted": True}
    )
    assert messages("encrypted-volumes", [instance, template, volume]) == []
    found = messages(
        "encrypted-volumes",
        [
            edited(instance, lambda p: p["rootBlockDevice"].update(encrypted=False)),
            edited(instance, lambda p: p.update(ebsBlockDevices=[{"deviceName": "/dev/sdf", "volumeSize": 10.0}])),
            edited(template, lambda p: p["blockDeviceMappings"][0]["ebs"].update(encrypted="false")),
            edited(volume, lambda p: p.pop("encrypted")),
        ],
    )
    assert sorted(message.split(" is not encrypted", 1)[0] for message in found) == [
        "'data': volume",
        f"'{CONTROL_PLANE}': EBS volume /dev/sdf",
        f"'{CONTROL_PLANE}': root volume",
        "'dev-workers': EBS volume /dev/sda1",
    ]


def edit_cloud_config(old: str, new: str) -> Any:
    """An edit of the instance's cloud-config, sent again as the program sends it: gzip + base64."""

    def edit(props: dict[str, Any]) -> None:
        text = decode_user_data(props["userDataBase64"])
        assert old in text
        props["userDataBase64"] = encode_user_data(text.replace(old, new, 1), node="edited")

    return edit


def test_no_private_key_in_user_data(dev: list[Captured]) -> None:
    instance = named(dev, INSTANCE, CONTROL_PLANE)
    assert base64.b64decode(instance.inputs["userDataBase64"]).startswith(b"\x1f\x8b"), "the pack reads gzip"
    assert messages("no-private-key-in-user-data", [instance, launch_template(instance)]) == []
    plain_key = edited(
        instance,
        edit_cloud_config(
            "write_files:\n", f"write_files:\n- path: /etc/kubernetes/pki/ca.key\n  content: |\n    {KEY_PEM}"
        ),
    )
    encoded = base64.b64encode(KEY_PEM.encode()).decode()
    b64_file = edited(
        instance,
        edit_cloud_config(
            "write_files:\n",
            f"write_files:\n- path: /etc/kubernetes/pki/sa.key\n  encoding: b64\n  content: {encoded}\n",
        ),
    )
    plain_text = edited(  # an instance's plain `userData` (not what the program sends) is read too
        instance,
        lambda p: p.update(userData=decode_user_data(p.pop("userDataBase64")) + f"# {KEY_PEM}"),
    )
    template = launch_template(instance, user_data="#!/bin/bash\ncat >/root/key <<EOF\n" + KEY_PEM + "EOF\n")
    found = messages("no-private-key-in-user-data", [plain_key, b64_file, plain_text, template])
    assert len(found) == 4 and all(f"({KEY_HEADER})" in message for message in found)


def test_nodes_use_ubuntu_is_advisory(dev: list[Captured]) -> None:
    template = named(dev, LAUNCH_TEMPLATE, "dev-workers")
    assert run_policy("nodes-use-ubuntu", [template]) == []
    yum = edited(
        template,
        lambda p: p.update(
            userData=encode_user_data(
                "#!/bin/bash\nyum install -y containerd\n"
                "curl -fsSLO https://dl.k8s.io/release/v1.22.17/bin/linux/amd64/kubelet\n"
                "kubeadm join --config /etc/kubeadm.yaml\n",
                node="edited",
            )
        ),
    )
    (violation,) = run_policy("nodes-use-ubuntu", [yum])
    assert violation.enforcement == "advisory" and "without an apt-based (Ubuntu) bootstrap" in violation.message


def test_iam_no_admin_access(dev: list[Captured]) -> None:
    ccm_policy = named(dev, "aws:iam/rolePolicy:RolePolicy", "dev-control-plane-cloud-controller-manager")
    attachment = role_attachment(dev, "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy")
    assert messages("iam-no-admin-access", [ccm_policy, attachment]) == []
    admin = edited(
        ccm_policy,
        lambda p: p.update(
            policy='{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
        ),
    )
    attached = edited(attachment, lambda p: p.update(policyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
    found = messages("iam-no-admin-access", [admin, attached])
    assert "allows every action on every resource" in found[0] and "attaches AdministratorAccess" in found[1]


# -- secrets ---------------------------------------------------------------------------------

PARAMETER = "aws:ssm/parameter:Parameter"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def role_attachment(resources: list[Captured], policy_arn: str) -> Captured:
    """An attachment of `policy_arn` to the control-plane role, shaped as pulumi-aws sends it (the
    program attaches no managed policy)."""
    role = named(resources, "aws:iam/role:Role", "dev-control-plane")
    return Captured(
        ATTACHMENT,
        "dev-control-plane-attached",
        role.urn.replace("aws:iam/role:Role::dev-control-plane", f"{ATTACHMENT}::dev-control-plane-attached"),
        {"role": "dev-control-plane-a81e309", "policyArn": policy_arn},
        property_dependencies={"role": (role.urn,)},
    )


def test_secure_parameters_use_cluster_key(dev: list[Captured]) -> None:
    parameters = [r for r in dev if r.type == PARAMETER]
    # 11 the nodes read, and the deployed-version record (a String).
    assert len(parameters) == 12 and messages("secure-parameters-use-cluster-key", parameters) == []
    key = named(dev, PARAMETER, "dev-pki-ca-key")
    assert key.inputs["keyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    cases = {
        "no keyId": lambda p: p.pop("keyId"),
        "empty": lambda p: p.update(keyId=""),
        "default alias": lambda p: p.update(keyId="alias/aws/ssm"),
        "default alias ARN": lambda p: p.update(keyId="arn:aws:kms:us-east-1:123456789012:alias/aws/ssm"),
    }
    for case, edit in cases.items():
        (found,) = messages("secure-parameters-use-cluster-key", [edited(key, edit)])
        assert found.startswith("SecureString 'dev-pki-ca-key' has ") and "cluster's own KMS key" in found, case
    # A String parameter needs no key; another customer key is the owner's choice.
    certificate = named(dev, PARAMETER, "dev-pki-ca-crt")
    assert "keyId" not in certificate.inputs
    assert messages("secure-parameters-use-cluster-key", [certificate]) == []
    other_key = edited(key, lambda p: p.update(keyId="alias/k8s-dualstack-aws/other"))
    assert messages("secure-parameters-use-cluster-key", [other_key]) == []


MANAGED_READERS = ["AmazonSSMManagedInstanceCore", "service-role/AmazonEC2RoleforSSM", "ReadOnlyAccess"]


@pytest.mark.parametrize("managed", MANAGED_READERS)
def test_no_account_wide_parameter_read_refuses_managed_policies(dev: list[Captured], managed: str) -> None:
    iam = [r for r in dev if r.type.startswith("aws:iam/")]
    assert messages("no-account-wide-parameter-read", iam) == []
    for partition in ("aws", "aws-cn"):
        arn = f"arn:{partition}:iam::aws:policy/{managed}"
        (found,) = messages("no-account-wide-parameter-read", [role_attachment(dev, arn)])
        assert f"attaches {managed.rsplit('/', 1)[-1]}, which allows ssm:GetParameter(s) on every" in found
    role = edited(
        named(dev, "aws:iam/role:Role", "dev-worker"),
        lambda p: p.update(managedPolicyArns=[f"arn:aws:iam::aws:policy/{managed}"]),
    )
    assert len(messages("no-account-wide-parameter-read", [role])) == 1
    harmless = role_attachment(dev, "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy")
    assert messages("no-account-wide-parameter-read", [harmless]) == []


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ({"Action": ["ssm:GetParameter", "ssm:GetParameters"], "Resource": "*"}, True),
        ({"Action": "ssm:GetParameter*", "Resource": "*"}, True),
        ({"Action": "ssm:*", "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/*"}, True),
        ({"Action": "SSM:getparametersbypath", "Resource": "arn:aws:ssm:*:*:*"}, True),
        ({"Action": "*", "Resource": "*"}, True),
        ({"NotAction": ["iam:*"], "Resource": "*"}, True),
        ({"Action": "ssm:GetParameter", "NotResource": "arn:aws:ssm:*:*:parameter/k8s-dualstack-aws/*"}, True),
        (
            {"Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:us-east-1:1:parameter/k8s-dualstack-aws/dev/*"},
            False,
        ),
        ({"Action": "ssm:PutParameter", "Resource": "*"}, False),
        ({"Action": "ssm:UpdateInstanceInformation", "Resource": "*"}, False),
        ({"NotAction": ["ssm:*"], "Resource": "*"}, False),
        ({"Action": "ssm:GetParameter", "NotResource": "*"}, False),
    ],
)
def test_no_account_wide_parameter_read_in_inline_policies(
    dev: list[Captured], statement: dict[str, Any], refused: bool
) -> None:
    agent = named(dev, ROLE_POLICY, "dev-worker-ssm-agent")
    probe: dict[str, Any] = {"Sid": "Probe", "Effect": "Allow", **statement}
    document = {"Version": "2012-10-17", "Statement": [probe]}
    found = messages("no-account-wide-parameter-read", [edited(agent, lambda p: p.update(policy=json.dumps(document)))])
    assert found == (
        [
            "'dev-worker-ssm-agent' allows reading every SSM parameter of the account (statement 'Probe'): name the "
            "cluster's parameter paths (arn:...:parameter/<project>/<cluster>/...) instead of '*'."
        ]
        if refused
        else []
    )
    denied = {**document, "Statement": [{**probe, "Effect": "Deny"}]}
    assert (
        messages("no-account-wide-parameter-read", [edited(agent, lambda p: p.update(policy=json.dumps(denied)))]) == []
    )
    role = edited(
        named(dev, "aws:iam/role:Role", "dev-worker"),
        lambda p: p.update(inlinePolicies=[{"name": "inline", "policy": json.dumps(document)}]),
    )
    assert len(messages("no-account-wide-parameter-read", [role])) == int(refused)


def _moto_managed_policies() -> dict[str, Any]:
    pytest.importorskip("moto", reason="moto comes with requirements-dev.txt")
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415 - after the skip

    documents: dict[str, Any] = json.loads(aws_managed_policies_data)
    return documents


def test_the_managed_policies_the_rule_names_do_read_every_parameter() -> None:
    # moto ships the AWS documents of the managed policies: each one the rule refuses grants the read
    # (by the rule's own statement matcher), and every AmazonSSM*/AmazonEC2Role* policy that grants it
    # is refused.
    managed = _moto_managed_policies()
    granting = {name for name, policy in managed.items() if account_wide_parameter_reads(policy["Document"])}
    assert granting >= ACCOUNT_WIDE_PARAMETER_READERS
    ssm_family = {name for name in granting if name.startswith(("AmazonSSM", "AmazonEC2Role"))}
    assert ssm_family - {"AmazonSSMServiceRolePolicy"} <= ACCOUNT_WIDE_PARAMETER_READERS
    assert not account_wide_parameter_reads(managed["AmazonSSMManagedEC2InstanceDefaultPolicy"]["Document"])
