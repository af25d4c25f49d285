"""The AWS API calls of each resource type, as the Pulumi AWS provider makes them (boto3).

Used by `tools.aws_replay`, which orders the resources and owns the public result type; the
types both share (`PlannedResource`, `Call`, `InstanceInfo`, `ReplayState`) live here, so the
two modules import in one direction only.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.network_plan import SUBNET_IPV6_PREFIX, VPC_IPV6_PREFIX, ipv6_subnet

# Canonical's Ubuntu images name their root device /dev/sda1.
ROOT_DEVICE = "/dev/sda1"


@dataclass(frozen=True)
class PlannedResource:
    """One resource as the program registered it: JSON inputs (secrets "[secret]") and its edges."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]

    @property
    def edges(self) -> set[str]:
        return set(self.dependencies).union(*self.property_dependencies.values())


@dataclass(frozen=True)
class Call:
    """One API call of the replay (or a resource that could not be attempted: operation "-")."""

    urn: str
    name: str
    operation: str
    error: str | None = None


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    subnet_id: str
    availability_zone: str
    private_ipv4: str
    ipv6: tuple[str, ...]
    public_ipv4: str | None
    tags: dict[str, str]


@dataclass
class ReplayState:
    """What the calls established; `tools.aws_replay.ReplayResult` adds where and how it went."""

    names: dict[str, str] = field(default_factory=dict)
    """Program resource URN -> its logical name."""
    ids: dict[str, str] = field(default_factory=dict)
    """Program resource URN -> the API's id (vpc-..., subnet-..., sgr-..., role and profile
    names, parameter names, i-...)."""
    calls: list[Call] = field(default_factory=list)
    vpc_ipv6_cidrs: dict[str, str] = field(default_factory=dict)
    """VPC name -> the /56 the API assigned."""
    subnet_ipv6_cidrs: dict[str, str] = field(default_factory=dict)
    """Subnet name -> the /64 carved from that /56."""
    instances: dict[str, InstanceInfo] = field(default_factory=dict)
    """Instance name -> what the API says about it."""
    notes: list[str] = field(default_factory=list)
    """Where the API needed a second call to reach the program's intent (a moto gap)."""


class ReplayError(Exception):
    """A resource could not be created; the failing call is already recorded."""


def _tags(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": str(value)} for key, value in sorted((inputs.get("tags") or {}).items())]


def _tag_spec(resource_type: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    tags = _tags(inputs)
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tags}]} if tags else {}


def _metadata_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key[0].upper() + key[1:]: int(value) if isinstance(value, float) else value for key, value in options.items()
    }


def _flag(value: Any) -> bool:
    """The provider's booleans of launch templates are strings ("true"/"false")."""
    return value is True or str(value).lower() == "true"


def _template_block_device(planned: Mapping[str, Any]) -> dict[str, Any]:
    ebs = planned.get("ebs", {})
    mapping: dict[str, Any] = {"DeviceName": planned["deviceName"]}
    if ebs:
        mapping["Ebs"] = {
            "VolumeSize": int(ebs.get("volumeSize", 8)),
            "VolumeType": ebs.get("volumeType", "gp3"),
            "Encrypted": _flag(ebs.get("encrypted")),
            "DeleteOnTermination": _flag(ebs.get("deleteOnTermination")),
        }
    return mapping


def ipv6_index(planned_subnet: str) -> int:
    """Which /64 of its /56 a planned subnet is (the low bits of its prefix)."""
    bits = SUBNET_IPV6_PREFIX - VPC_IPV6_PREFIX
    return (int(ipaddress.IPv6Network(planned_subnet).network_address) >> (128 - SUBNET_IPV6_PREFIX)) % 2**bits


def same_host(planned_address: str, subnet: str) -> str:
    """The planned address's host part inside the real /64 (fixed addresses like `::a`)."""
    host = int(ipaddress.IPv6Address(planned_address)) % 2 ** (128 - SUBNET_IPV6_PREFIX)
    return str(ipaddress.IPv6Network(subnet).network_address + host)


class ApiReplay:
    """The API calls of each resource type, as the Pulumi AWS provider makes them."""

    def __init__(self, api: Mapping[str, Any], result: ReplayState, types: Mapping[str, str]) -> None:
        self.api = api
        self.result = result
        self.types = types
        self.images: dict[str, str] = {}
        self.key_arns: dict[str, str] = {}
        """KMS key ID -> its ARN."""
        self.template_versions: dict[str, int] = {}
        """Launch template ID -> its latest version number."""

    # plumbing

    def call(self, resource: PlannedResource, service: str, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - a validation extra

        name = f"{service}.{operation}"
        try:
            response: dict[str, Any] = getattr(self.api[service], operation)(**params)
        except (ClientError, BotoCoreError) as error:
            self.result.calls.append(Call(resource.urn, resource.name, name, str(error)))
            raise ReplayError(name) from error
        self.result.calls.append(Call(resource.urn, resource.name, name))
        return response

    def refs(self, resource: PlannedResource, key: str, type_token: str | None = None) -> list[str]:
        """The API ids of the replayed resources that input `key` was computed from."""
        return [
            self.result.ids[urn]
            for urn in resource.property_dependencies.get(key, ())
            if urn in self.result.ids and (type_token is None or self.types[urn] == type_token)
        ]

    def ref(self, resource: PlannedResource, key: str, type_token: str | None = None) -> str:
        found = self.refs(resource, key, type_token)
        if len(found) != 1:
            message = f"input {key} of {resource.name} refers to {len(found)} replayed resources, expected 1"
            self.result.calls.append(Call(resource.urn, resource.name, "-", message))
            raise ReplayError(message)
        return found[0]

    def vpc_block(self, resource: PlannedResource, key: str) -> str | None:
        """The real /56 when input `key` came from a VPC's IPv6 block, else None."""
        sources = resource.property_dependencies.get(key, ())
        blocks = [
            self.result.vpc_ipv6_cidrs[self.result.names[urn]]
            for urn in sources
            if self.types.get(urn) == "aws:ec2/vpc:Vpc"
        ]
        return blocks[0] if blocks else None

    def done(self, resource: PlannedResource, api_id: str) -> None:
        self.result.ids[resource.urn] = api_id

    # network

    def vpc(self, r: PlannedResource) -> None:
        i = r.inputs
        vpc = self.call(
            r,
            "ec2",
            "create_vpc",
            CidrBlock=i["cidrBlock"],
            AmazonProvidedIpv6CidrBlock=bool(i.get("assignGeneratedIpv6CidrBlock")),
            **_tag_spec("vpc", i),
        )["Vpc"]
        for attribute, key in (("EnableDnsSupport", "enableDnsSupport"), ("EnableDnsHostnames", "enableDnsHostnames")):
            if key in i:  # one attribute per call, as the API demands
                self.call(r, "ec2", "modify_vpc_attribute", VpcId=vpc["VpcId"], **{attribute: {"Value": bool(i[key])}})
        blocks = [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]
        if blocks:
            self.result.vpc_ipv6_cidrs[r.name] = blocks[0]
        self.done(r, vpc["VpcId"])

    def subnet(self, r: PlannedResource) -> None:
        i = r.inputs
        params: dict[str, Any] = {
            "VpcId": self.ref(r, "vpcId"),
            "CidrBlock": i["cidrBlock"],
            "AvailabilityZone": i["availabilityZone"],
            **_tag_spec("subnet", i),
        }
        if i.get("ipv6CidrBlock"):
            block, planned = self.vpc_block(r, "ipv6CidrBlock"), i["ipv6CidrBlock"]
            params["Ipv6CidrBlock"] = ipv6_subnet(block, ipv6_index(planned)) if block else planned
        subnet = self.call(r, "ec2", "create_subnet", **params)["Subnet"]
        attributes = {
            "assignIpv6AddressOnCreation": "AssignIpv6AddressOnCreation",
            "mapPublicIpOnLaunch": "MapPublicIpOnLaunch",
            "enableResourceNameDnsARecordOnLaunch": "EnableResourceNameDnsARecordOnLaunch",
            "enableResourceNameDnsAaaaRecordOnLaunch": "EnableResourceNameDnsAAAARecordOnLaunch",
            "enableDns64": "EnableDns64",
        }
        for key, attribute in attributes.items():
            if key in i:
                self.call(
                    r,
                    "ec2",
                    "modify_subnet_attribute",
                    SubnetId=subnet["SubnetId"],
                    **{attribute: {"Value": bool(i[key])}},
                )
        if "privateDnsHostnameTypeOnLaunch" in i:
            self.call(
                r,
                "ec2",
                "modify_subnet_attribute",
                SubnetId=subnet["SubnetId"],
                PrivateDnsHostnameTypeOnLaunch=i["privateDnsHostnameTypeOnLaunch"],
            )
        if "Ipv6CidrBlock" in params:
            self.result.subnet_ipv6_cidrs[r.name] = params["Ipv6CidrBlock"]
        self.done(r, subnet["SubnetId"])

    def internet_gateway(self, r: PlannedResource) -> None:
        gateway = self.call(r, "ec2", "create_internet_gateway", **_tag_spec("internet-gateway", r.inputs))
        gateway_id = gateway["InternetGateway"]["InternetGatewayId"]
        self.call(r, "ec2", "attach_internet_gateway", InternetGatewayId=gateway_id, VpcId=self.ref(r, "vpcId"))
        self.done(r, gateway_id)

    def egress_only_gateway(self, r: PlannedResource) -> None:
        gateway = self.call(
            r,
            "ec2",
            "create_egress_only_internet_gateway",
            VpcId=self.ref(r, "vpcId"),
            **_tag_spec("egress-only-internet-gateway", r.inputs),
        )
        self.done(r, gateway["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"])

    def eip(self, r: PlannedResource) -> None:
        address = self.call(
            r, "ec2", "allocate_address", Domain=r.inputs.get("domain", "vpc"), **_tag_spec("elastic-ip", r.inputs)
        )
        self.done(r, address["AllocationId"])

    def nat_gateway(self, r: PlannedResource) -> None:
        nat = self.call(
            r,
            "ec2",
            "create_nat_gateway",
            AllocationId=self.ref(r, "allocationId"),
            SubnetId=self.ref(r, "subnetId"),
            **_tag_spec("natgateway", r.inputs),
        )
        self.done(r, nat["NatGateway"]["NatGatewayId"])

    def route_table(self, r: PlannedResource) -> None:
        table = self.call(
            r, "ec2", "create_route_table", VpcId=self.ref(r, "vpcId"), **_tag_spec("route-table", r.inputs)
        )
        self.done(r, table["RouteTable"]["RouteTableId"])

    def route_table_association(self, r: PlannedResource) -> None:
        association = self.call(
            r,
            "ec2",
            "associate_route_table",
            RouteTableId=self.ref(r, "routeTableId"),
            SubnetId=self.ref(r, "subnetId"),
        )
        self.done(r, association["AssociationId"])

    def route(self, r: PlannedResource) -> None:
        i = r.inputs
        table = self.ref(r, "routeTableId")
        params: dict[str, Any] = {"RouteTableId": table}
        if "destinationCidrBlock" in i:
            params["DestinationCidrBlock"] = i["destinationCidrBlock"]
        if "destinationIpv6CidrBlock" in i:
            params["DestinationIpv6CidrBlock"] = i["destinationIpv6CidrBlock"]
        targets = {
            "gatewayId": "GatewayId",
            "egressOnlyGatewayId": "EgressOnlyInternetGatewayId",
            "natGatewayId": "NatGatewayId",
        }
        params.update({target: self.ref(r, key) for key, target in targets.items() if key in i})
        self.call(r, "ec2", "create_route", **params)
        destination = params.get("DestinationCidrBlock") or params.get("DestinationIpv6CidrBlock")
        self.done(r, f"{table}_{destination}")  # the provider's id for a route

    def subnet_cidr_reservation(self, r: PlannedResource) -> None:
        i = r.inputs
        cidr = str(i["cidrBlock"])
        subnet_urns = [urn for urn in r.property_dependencies.get("subnetId", ()) if urn in self.result.ids]
        subnet_block = self.result.subnet_ipv6_cidrs.get(self.result.names[subnet_urns[0]]) if subnet_urns else None
        if ":" in cidr and subnet_block:  # a fixed IPv6 host keeps its host part inside the real /64
            address, prefix = cidr.split("/")
            cidr = f"{same_host(address, subnet_block)}/{prefix}"
        params: dict[str, Any] = {
            "SubnetId": self.ref(r, "subnetId"),
            "Cidr": cidr,
            "ReservationType": i["reservationType"],
        }
        if i.get("description"):
            params["Description"] = i["description"]
        reservation = self.call(r, "ec2", "create_subnet_cidr_reservation", **params)["SubnetCidrReservation"]
        self.done(r, reservation["SubnetCidrReservationId"])

    def security_group(self, r: PlannedResource) -> None:
        group = self.call(
            r,
            "ec2",
            "create_security_group",
            GroupName=r.name,
            VpcId=self.ref(r, "vpcId"),
            Description=r.inputs.get("description", "Managed by Pulumi"),
            **_tag_spec("security-group", r.inputs),
        )
        group_id = group["GroupId"]
        # The provider revokes the allow-all egress AWS adds: the group has exactly the declared rules.
        described = self.call(r, "ec2", "describe_security_groups", GroupIds=[group_id])["SecurityGroups"][0]
        if described.get("IpPermissionsEgress"):
            self.call(
                r,
                "ec2",
                "revoke_security_group_egress",
                GroupId=group_id,
                IpPermissions=described["IpPermissionsEgress"],
            )
        self.done(r, group_id)

    def security_group_rule(self, r: PlannedResource) -> None:
        i = r.inputs
        permission: dict[str, Any] = {"IpProtocol": str(i["ipProtocol"])}
        if "fromPort" in i:
            permission.update(FromPort=int(i["fromPort"]), ToPort=int(i["toPort"]))
        described = {"Description": i["description"]} if i.get("description") else {}
        if "cidrIpv4" in i:
            permission["IpRanges"] = [{"CidrIp": i["cidrIpv4"], **described}]
        if "cidrIpv6" in i:
            permission["Ipv6Ranges"] = [{"CidrIpv6": self.vpc_block(r, "cidrIpv6") or i["cidrIpv6"], **described}]
        if "referencedSecurityGroupId" in i:
            permission["UserIdGroupPairs"] = [{"GroupId": self.ref(r, "referencedSecurityGroupId"), **described}]
        if "prefixListId" in i:
            permission["PrefixListIds"] = [{"PrefixListId": i["prefixListId"], **described}]
        egress = r.type.endswith("EgressRule")
        operation = "authorize_security_group_egress" if egress else "authorize_security_group_ingress"
        response = self.call(
            r,
            "ec2",
            operation,
            GroupId=self.ref(r, "securityGroupId"),
            IpPermissions=[permission],
            **_tag_spec("security-group-rule", i),
        )
        rules = response.get("SecurityGroupRules") or [{}]
        self.done(r, rules[0].get("SecurityGroupRuleId", "sgr-unknown"))

    # identity and parameters

    def role(self, r: PlannedResource) -> None:
        i = r.inputs
        params = {"RoleName": r.name, "AssumeRolePolicyDocument": i["assumeRolePolicy"], "Tags": _tags(i)}
        params.update({key.title(): i[key] for key in ("description", "path") if key in i})
        self.call(r, "iam", "create_role", **params)
        self.done(r, r.name)

    def role_policy(self, r: PlannedResource) -> None:
        self.call(
            r,
            "iam",
            "put_role_policy",
            RoleName=self.ref(r, "role"),
            PolicyName=r.name,
            PolicyDocument=r.inputs["policy"],
        )
        self.done(r, f"{self.ref(r, 'role')}:{r.name}")

    def instance_profile(self, r: PlannedResource) -> None:
        self.call(r, "iam", "create_instance_profile", InstanceProfileName=r.name, Tags=_tags(r.inputs))
        if "role" in r.inputs:
            self.call(
                r, "iam", "add_role_to_instance_profile", InstanceProfileName=r.name, RoleName=self.ref(r, "role")
            )
        self.done(r, r.name)

    def parameter(self, r: PlannedResource) -> None:
        i = r.inputs
        # A secret value is "[secret]" here, as in resources.json: secrets never leave the render.
        params = {"Name": i.get("name", r.name), "Type": i.get("type", "String"), "Value": i["value"], "Tags": _tags(i)}
        params.update({key.title(): i[key] for key in ("description", "tier") if key in i})
        if "keyId" in i:
            params["KeyId"] = self.key_arns[self.ref(r, "keyId", "aws:kms/key:Key")]
        self.call(r, "ssm", "put_parameter", **params)
        self.done(r, params["Name"])

    # keys

    def role_arns(self, r: PlannedResource, key: str) -> dict[str, str]:
        """Planned ARN pattern -> the API's ARN, for the roles that input `key` names.

        The program's roles are auto-named (`<logical name>-<7 hex>`); the replay creates them
        under their logical names, so a document naming them must name the replayed ones."""
        arns: dict[str, str] = {}
        for urn in r.property_dependencies.get(key, ()):
            if self.types.get(urn) == "aws:iam/role:Role" and urn in self.result.ids:
                role = self.call(r, "iam", "get_role", RoleName=self.result.ids[urn])["Role"]
                pattern = rf"arn:[\w-]+:iam::\d{{12}}:role/{re.escape(self.result.names[urn])}-[0-9a-f]{{7}}\b"
                arns[pattern] = role["Arn"]
        return arns

    def kms_key(self, r: PlannedResource) -> None:
        i = r.inputs
        params: dict[str, Any] = {"Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(i)]}
        params.update(
            {api: i[key] for key, api in (("description", "Description"), ("keyUsage", "KeyUsage")) if key in i}
        )
        if "customerMasterKeySpec" in i:
            params["KeySpec"] = i["customerMasterKeySpec"]
        if "policy" in i:
            policy = str(i["policy"])
            for pattern, arn in self.role_arns(r, "policy").items():
                policy = re.sub(pattern, arn, policy)
            params["Policy"] = policy
        metadata = self.call(r, "kms", "create_key", **params)["KeyMetadata"]
        key_id = metadata["KeyId"]
        if i.get("enableKeyRotation"):
            rotation = {"RotationPeriodInDays": int(i["rotationPeriodInDays"])} if "rotationPeriodInDays" in i else {}
            self.call(r, "kms", "enable_key_rotation", KeyId=key_id, **rotation)
        if "policy" in i:
            # The provider waits until GetKeyPolicy returns what it sent.
            held = self.call(r, "kms", "get_key_policy", KeyId=key_id, PolicyName="default")["Policy"]
            if json.loads(held) != json.loads(params["Policy"]):
                self.result.calls.append(Call(r.urn, r.name, "kms.get_key_policy", "the key holds another policy"))
                raise ReplayError("kms.get_key_policy")
        self.key_arns[key_id] = metadata["Arn"]
        self.done(r, key_id)

    def kms_alias(self, r: PlannedResource) -> None:
        name = r.inputs["name"]
        self.call(r, "kms", "create_alias", AliasName=name, TargetKeyId=self.ref(r, "targetKeyId", "aws:kms/key:Key"))
        self.done(r, name)

    # instances

    def image(self, r: PlannedResource, key: str = "ami") -> str:
        """A registered stand-in for the program's AMI (input `key`; the API knows no Canonical images)."""
        planned = str(r.inputs[key])
        if planned not in self.images:
            arm = re.match(r"^[a-z]+\d+g", str(r.inputs.get("instanceType", "")))
            image = self.call(
                r,
                "ec2",
                "register_image",
                Name=f"stand-in-for-{planned}",
                RootDeviceName=ROOT_DEVICE,
                Architecture="arm64" if arm else "x86_64",
                VirtualizationType="hvm",
                Description=f"stands in for {planned}, the program's Ubuntu AMI",
            )
            self.images[planned] = image["ImageId"]
        return self.images[planned]

    def instance(self, r: PlannedResource) -> None:
        i = r.inputs
        subnet_urns = [urn for urn in r.property_dependencies.get("subnetId", ()) if urn in self.result.ids]
        subnet_block = self.result.subnet_ipv6_cidrs.get(self.result.names[subnet_urns[0]]) if subnet_urns else None
        ipv6 = [same_host(a, subnet_block) if subnet_block else a for a in i.get("ipv6Addresses", [])]
        params: dict[str, Any] = {
            "ImageId": self.image(r),
            "InstanceType": i["instanceType"],
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": self.ref(r, "subnetId"),
            "SecurityGroupIds": self.refs(r, "vpcSecurityGroupIds", "aws:ec2/securityGroup:SecurityGroup"),
        }
        if ipv6:
            params["Ipv6Addresses"] = [{"Ipv6Address": address} for address in ipv6]
        elif "ipv6AddressCount" in i:
            params["Ipv6AddressCount"] = int(i["ipv6AddressCount"])
        if "privateIp" in i:
            params["PrivateIpAddress"] = i["privateIp"]
        if "iamInstanceProfile" in i:
            params["IamInstanceProfile"] = {"Name": self.ref(r, "iamInstanceProfile")}
        if "metadataOptions" in i:
            params["MetadataOptions"] = _metadata_options(i["metadataOptions"])
        if "enablePrimaryIpv6" in i:
            params["EnablePrimaryIpv6"] = bool(i["enablePrimaryIpv6"])
        # boto3 base64-encodes UserData, as the provider does: it takes what EC2 receives, here the
        # gzip-compressed cloud-config of `userDataBase64`.
        if "userDataBase64" in i:
            params["UserData"] = base64.b64decode(i["userDataBase64"])
        elif "userData" in i:
            params["UserData"] = i["userData"]
        specs = _tag_spec("instance", i).get("TagSpecifications", [])
        root = i.get("rootBlockDevice")
        if root:
            ebs = {
                "VolumeSize": int(root.get("volumeSize", 8)),
                "VolumeType": root.get("volumeType", "gp3"),
                "Encrypted": bool(root.get("encrypted")),
                "DeleteOnTermination": bool(root.get("deleteOnTermination")),
            }
            params["BlockDeviceMappings"] = [{"DeviceName": ROOT_DEVICE, "Ebs": ebs}]
            specs += _tag_spec("volume", root).get("TagSpecifications", [])
        if specs:
            params["TagSpecifications"] = specs
        launched = self.call(r, "ec2", "run_instances", **params)["Instances"][0]
        instance_id = launched["InstanceId"]
        self._ensure_ipv6(r, instance_id, ipv6)
        self.done(r, instance_id)
        self.result.instances[r.name] = self.describe(r, instance_id)

    def _ensure_ipv6(self, r: PlannedResource, instance_id: str, planned: list[str]) -> None:
        if not planned:
            return
        described = self.describe_raw(r, instance_id)
        interface = described["NetworkInterfaces"][0]
        missing = [a for a in planned if a not in {v["Ipv6Address"] for v in interface.get("Ipv6Addresses", [])}]
        if missing:
            self.call(
                r,
                "ec2",
                "assign_ipv6_addresses",
                NetworkInterfaceId=interface["NetworkInterfaceId"],
                Ipv6Addresses=missing,
            )
            self.result.notes.append(
                f"{r.name}: RunInstances did not apply Ipv6Addresses {missing}; assigned them to its primary interface"
            )

    def describe_raw(self, r: PlannedResource, instance_id: str) -> dict[str, Any]:
        reservations = self.call(r, "ec2", "describe_instances", InstanceIds=[instance_id])["Reservations"]
        instance: dict[str, Any] = reservations[0]["Instances"][0]
        return instance

    def describe(self, r: PlannedResource, instance_id: str) -> InstanceInfo:
        instance = self.describe_raw(r, instance_id)
        interfaces = instance.get("NetworkInterfaces", [])
        return InstanceInfo(
            instance_id=instance_id,
            subnet_id=instance["SubnetId"],
            availability_zone=instance["Placement"]["AvailabilityZone"],
            private_ipv4=instance["PrivateIpAddress"],
            ipv6=tuple(a["Ipv6Address"] for interface in interfaces for a in interface.get("Ipv6Addresses", [])),
            public_ipv4=instance.get("PublicIpAddress"),
            tags={tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])},
        )

    # the workers: a launch template and the Auto Scaling group that launches from it

    def launch_template(self, r: PlannedResource) -> None:
        i = r.inputs
        data: dict[str, Any] = {"ImageId": self.image(r, "imageId"), "InstanceType": i["instanceType"]}
        if "iamInstanceProfile" in i:
            data["IamInstanceProfile"] = {
                "Name": self.ref(r, "iamInstanceProfile", "aws:iam/instanceProfile:InstanceProfile")
            }
        if "metadataOptions" in i:
            data["MetadataOptions"] = _metadata_options(i["metadataOptions"])
        interfaces = [self._template_interface(r, planned) for planned in i.get("networkInterfaces", [])]
        if interfaces:
            data["NetworkInterfaces"] = interfaces
        mappings = [_template_block_device(planned) for planned in i.get("blockDeviceMappings", [])]
        if mappings:
            data["BlockDeviceMappings"] = mappings
        specs = [
            {"ResourceType": spec["resourceType"], "Tags": _tags(spec)}
            for spec in i.get("tagSpecifications", [])
            if spec.get("tags")
        ]
        if specs:
            data["TagSpecifications"] = specs
        # The launch template's user data is base64 as the program gives it (the gzip-compressed
        # cloud-config); boto3 sends it unchanged, unlike RunInstances' UserData.
        if "userData" in i:
            data["UserData"] = i["userData"]
        template = self.call(
            r,
            "ec2",
            "create_launch_template",
            LaunchTemplateName=str(i.get("name", r.name)),
            LaunchTemplateData=data,
            **_tag_spec("launch-template", i),
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        self.template_versions[template_id] = int(template["LatestVersionNumber"])
        self.done(r, template_id)

    def _template_interface(self, r: PlannedResource, planned: Mapping[str, Any]) -> dict[str, Any]:
        interface: dict[str, Any] = {"DeviceIndex": int(planned.get("deviceIndex", 0))}
        if planned.get("securityGroups"):
            interface["Groups"] = self.refs(r, "networkInterfaces", "aws:ec2/securityGroup:SecurityGroup")
        if "subnetId" in planned:
            interface["SubnetId"] = self.ref(r, "networkInterfaces", "aws:ec2/subnet:Subnet")
        if "ipv6AddressCount" in planned:
            interface["Ipv6AddressCount"] = int(planned["ipv6AddressCount"])
        flags = (("primaryIpv6", "PrimaryIpv6"), ("deleteOnTermination", "DeleteOnTermination"))
        interface.update({api: _flag(planned[key]) for key, api in flags if key in planned})
        return interface

    def autoscaling_group(self, r: PlannedResource) -> None:
        i = r.inputs
        name = str(i.get("name", r.name))
        template_id = self.ref(r, "launchTemplate", "aws:ec2/launchTemplate:LaunchTemplate")
        subnets = self.refs(r, "vpcZoneIdentifiers", "aws:ec2/subnet:Subnet")
        if len(subnets) != len(i.get("vpcZoneIdentifiers", [])):
            message = f"input vpcZoneIdentifiers of {r.name} names {len(subnets)} replayed subnets"
            self.result.calls.append(Call(r.urn, r.name, "-", message))
            raise ReplayError(message)
        desired = int(i.get("desiredCapacity", i["minSize"]))
        self.call(
            r,
            "autoscaling",
            "create_auto_scaling_group",
            AutoScalingGroupName=name,
            # The version the program pins (the template's latest), as the provider sends it.
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": str(self.template_versions[template_id])},
            MinSize=int(i["minSize"]),
            MaxSize=int(i["maxSize"]),
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(subnets),
            Tags=[
                {
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                    "Key": tag["key"],
                    "Value": str(tag["value"]),
                    "PropagateAtLaunch": bool(tag.get("propagateAtLaunch")),
                }
                for tag in i.get("tags", [])
            ],
        )
        # The provider waits for the desired capacity (wait_for_capacity_timeout) before it is done.
        (group,) = self.call(r, "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        instance_ids = sorted(instance["InstanceId"] for instance in group["Instances"])
        if len(instance_ids) != desired:
            message = f"{name} launched {len(instance_ids)} instances, desired {desired}"
            self.result.calls.append(Call(r.urn, r.name, "-", message))
            raise ReplayError(message)
        self.done(r, name)
        for index, instance_id in enumerate(instance_ids):
            self._ensure_launched_ipv6(r, instance_id)
            self.result.instances[f"{r.name}-{index}"] = self.describe(r, instance_id)
        used = {self.result.instances[f"{r.name}-{index}"].subnet_id for index in range(len(instance_ids))}
        if len(subnets) > 1 and len(used) == 1:
            self.result.notes.append(
                f"{r.name}: the Auto Scaling group launched all {len(instance_ids)} instances into its first "
                f"subnet of {len(subnets)} (moto gap: AWS spreads them over the zones)"
            )

    def _ensure_launched_ipv6(self, r: PlannedResource, instance_id: str) -> None:
        """An IPv6 address from the launch template's Ipv6AddressCount, as EC2 gives it."""
        wanted = sum(int(n.get("ipv6AddressCount", 0)) for n in self._template_interfaces(r))
        if not wanted:
            return
        interface = self.describe_raw(r, instance_id)["NetworkInterfaces"][0]
        missing = wanted - len(interface.get("Ipv6Addresses", []))
        if missing > 0:
            self.call(
                r,
                "ec2",
                "assign_ipv6_addresses",
                NetworkInterfaceId=interface["NetworkInterfaceId"],
                Ipv6AddressCount=missing,
            )
            self.result.notes.append(
                f"{r.name}: the Auto Scaling group launched {instance_id} without the launch template's "
                f"Ipv6AddressCount (moto gap); assigned {missing} to its primary interface"
            )

    def _template_interfaces(self, r: PlannedResource) -> list[dict[str, Any]]:
        template_id = self.ref(r, "launchTemplate", "aws:ec2/launchTemplate:LaunchTemplate")
        version = str(self.template_versions[template_id])
        (held,) = self.call(
            r, "ec2", "describe_launch_template_versions", LaunchTemplateId=template_id, Versions=[version]
        )["LaunchTemplateVersions"]
        interfaces: list[dict[str, Any]] = held["LaunchTemplateData"].get("NetworkInterfaces", [])
        return [{"ipv6AddressCount": n.get("Ipv6AddressCount", 0)} for n in interfaces]

    def eip_association(self, r: PlannedResource) -> None:
        instance_id = self.ref(r, "instanceId")
        association = self.call(
            r, "ec2", "associate_address", AllocationId=self.ref(r, "allocationId"), InstanceId=instance_id
        )
        self.done(r, association["AssociationId"])
        for name, info in self.result.instances.items():
            if info.instance_id == instance_id:
                self.result.instances[name] = self.describe(r, instance_id)


_PHASE_2 = "the replay of the production topology comes in its phase 2 (moto implements the API; not mapped yet)"
SKIPPED_TYPES: dict[str, str] = {
    "aws:lb/loadBalancer:LoadBalancer": f"the API load balancer (ELBv2 CreateLoadBalancer): {_PHASE_2}",
    "aws:lb/targetGroup:TargetGroup": f"its target group (CreateTargetGroup, ModifyTargetGroupAttributes): {_PHASE_2}",
    "aws:lb/listener:Listener": f"its listener (CreateListener): {_PHASE_2}",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": f"a control plane as a target (RegisterTargets): {_PHASE_2}",
}
"""AWS types the program creates that the replay does not make yet, each with why. `replay` lists
every resource of these types in `ReplayResult.skipped` instead of failing it."""

Handler = Callable[[ApiReplay, PlannedResource], None]
HANDLERS: dict[str, Handler] = {
    # Also the tie-break order of resources that are ready at the same time.
    "aws:ec2/vpc:Vpc": ApiReplay.vpc,
    "aws:ec2/internetGateway:InternetGateway": ApiReplay.internet_gateway,
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": ApiReplay.egress_only_gateway,
    "aws:ec2/eip:Eip": ApiReplay.eip,
    "aws:ec2/subnet:Subnet": ApiReplay.subnet,
    "aws:ec2/natGateway:NatGateway": ApiReplay.nat_gateway,
    "aws:ec2/routeTable:RouteTable": ApiReplay.route_table,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ApiReplay.route_table_association,
    "aws:ec2/route:Route": ApiReplay.route,
    "aws:ec2/subnetCidrReservation:SubnetCidrReservation": ApiReplay.subnet_cidr_reservation,
    "aws:ec2/securityGroup:SecurityGroup": ApiReplay.security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ApiReplay.security_group_rule,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ApiReplay.security_group_rule,
    "aws:iam/role:Role": ApiReplay.role,
    "aws:iam/rolePolicy:RolePolicy": ApiReplay.role_policy,
    "aws:iam/instanceProfile:InstanceProfile": ApiReplay.instance_profile,
    "aws:kms/key:Key": ApiReplay.kms_key,
    "aws:kms/alias:Alias": ApiReplay.kms_alias,
    "aws:ssm/parameter:Parameter": ApiReplay.parameter,
    "aws:ec2/instance:Instance": ApiReplay.instance,
    "aws:ec2/launchTemplate:LaunchTemplate": ApiReplay.launch_template,
    "aws:autoscaling/group:Group": ApiReplay.autoscaling_group,
    "aws:ec2/eipAssociation:EipAssociation": ApiReplay.eip_association,
}
