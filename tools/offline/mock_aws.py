"""AWS's side of the offline engine: placeholder outputs of the AWS resources and invokes the program uses.

`AwsPlaceholders` answers like EC2, ELBv2, IAM, SSM and KMS would for one account and region:
IDs and ARNs from `tools.offline.mock_values`, addresses allocated from the subnets it has seen
(thread-safe: the SDK calls the monitor from several executor threads at once). `OfflineMocks`
(`tools.offline.mocks`) dispatches to it.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs

from tools.offline.capture import unwrap_secrets
from tools.offline.mock_values import (
    ACCOUNT_ID,
    AMAZON_IPV6_POOL,
    AMI_DATE,
    EIP_RANGE,
    INSTANCE_PUBLIC_RANGE,
    NLB_HOSTED_ZONES,
    ZONE_COUNTS,
    dashed,
    digest,
    ec2_id,
    host_address,
    in_range,
)


class AwsPlaceholders:
    """Answers for the AWS resources and invokes of one account and region."""

    def __init__(self, region: str = "us-east-1", account_id: str = ACCOUNT_ID) -> None:
        self.ssm_parameters: dict[str, str] = {}
        """SSM parameters that exist before the program runs (name -> value): a deployed stack's state."""
        self.region = region
        self.account_id = account_id
        self._lock = threading.Lock()
        self._subnets: dict[str, dict[str, Any]] = {}
        self._eips: dict[str, str] = {}
        self._used: dict[str, set[str]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    @property
    def _internal_domain(self) -> str:
        return "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"

    def _public_dns(self, address: str) -> str:
        zone = "compute-1" if self.region == "us-east-1" else f"{self.region}.compute"
        return f"ec2-{dashed(address)}.{zone}.amazonaws.com"

    def _zone_id(self, zone: str) -> str:
        region, letter = zone[:-1], zone[-1]
        parts = region.split("-")
        return f"{parts[0]}{''.join(part[0] for part in parts[1:-1])}{parts[-1]}-az{ord(letter) - ord('a') + 1}"

    def _allocate(self, cidr: str, key: str) -> str:
        with self._lock:
            return host_address(ipaddress.ip_network(cidr), key, self._used.setdefault(cidr, set()))

    # -- resources ---------------------------------------------------------------------------

    def _vpc(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        outputs: dict[str, Any] = {
            "ownerId": self.account_id,
            "defaultRouteTableId": ec2_id("rtb", f"{args.name}-default"),
            "mainRouteTableId": ec2_id("rtb", f"{args.name}-default"),
            "defaultSecurityGroupId": ec2_id("sg", f"{args.name}-default"),
            "defaultNetworkAclId": ec2_id("acl", f"{args.name}-default"),
            "dhcpOptionsId": ec2_id("dopt", self.region),
            "enableDnsSupport": inputs.get("enableDnsSupport", True),
            "enableDnsHostnames": inputs.get("enableDnsHostnames", False),
            "instanceTenancy": inputs.get("instanceTenancy", "default"),
        }
        if inputs.get("assignGeneratedIpv6CidrBlock"):
            index = int(digest("ipv6", args.name)[:6], 16)  # 24 bits: a /56 of the /32 pool
            block = ipaddress.IPv6Network((int(AMAZON_IPV6_POOL.network_address) + (index << 72), 56))
            outputs.update(
                ipv6CidrBlock=str(block),
                ipv6AssociationId=ec2_id("vpc-cidr-assoc", args.name),
                ipv6CidrBlockNetworkBorderGroup=self.region,
            )
        return outputs

    def _subnet(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        outputs: dict[str, Any] = {"ownerId": self.account_id}
        zone = inputs.get("availabilityZone") or f"{self.region}a"
        outputs.update(availabilityZone=zone, availabilityZoneId=inputs.get("availabilityZoneId", self._zone_id(zone)))
        if inputs.get("ipv6CidrBlock"):
            outputs["ipv6CidrBlockAssociationId"] = ec2_id("subnet-cidr-assoc", args.name)
        return outputs

    def _instance(self, args: MockResourceArgs, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
        with self._lock:
            subnet = dict(self._subnets.get(inputs.get("subnetId", ""), {}))
        private_ip = inputs.get("privateIp")
        if not private_ip:
            if not subnet.get("cidrBlock"):
                raise ValueError(f"instance {args.name}: subnetId {inputs.get('subnetId')!r} is not a known subnet")
            private_ip = self._allocate(subnet["cidrBlock"], args.name)
        ipv6 = list(inputs.get("ipv6Addresses") or [])
        wanted = int(inputs.get("ipv6AddressCount") or 0)
        if not ipv6 and not wanted and (inputs.get("enablePrimaryIpv6") or subnet.get("assignIpv6AddressOnCreation")):
            wanted = 1
        if not ipv6 and wanted and subnet.get("ipv6CidrBlock"):
            ipv6 = [self._allocate(subnet["ipv6CidrBlock"], f"{args.name}-{index}") for index in range(wanted)]
        hostname_type = (inputs.get("privateDnsNameOptions") or {}).get("hostnameType", "ip-name")
        host = resource_id if hostname_type == "resource-name" else f"ip-{dashed(private_ip)}"
        outputs: dict[str, Any] = {
            "privateIp": private_ip,
            "privateDns": f"{host}.{self._internal_domain}",
            "ipv6Addresses": ipv6,
            "ipv6AddressCount": len(ipv6),
            "availabilityZone": subnet.get("availabilityZone", f"{self.region}a"),
            "primaryNetworkInterfaceId": ec2_id("eni", args.name),
            "instanceState": "running",
            "publicIp": "",
            "publicDns": "",
        }
        if inputs.get("associatePublicIpAddress", subnet.get("mapPublicIpOnLaunch", False)):
            public_ip = in_range(INSTANCE_PUBLIC_RANGE, args.name)
            outputs.update(publicIp=public_ip, publicDns=self._public_dns(public_ip))
        if isinstance(inputs.get("rootBlockDevice"), dict):
            outputs["rootBlockDevice"] = {**inputs["rootBlockDevice"], "volumeId": ec2_id("vol", args.name)}
        return outputs

    def _eip(self, args: MockResourceArgs, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
        public_ip = in_range(EIP_RANGE, args.name)
        with self._lock:
            self._eips[resource_id] = public_ip
        outputs = {
            "allocationId": resource_id,
            "publicIp": public_ip,
            "publicDns": self._public_dns(public_ip),
            "domain": inputs.get("domain", "vpc"),
        }
        if inputs.get("instance") or inputs.get("networkInterface"):
            outputs["associationId"] = ec2_id("eipassoc", args.name)
        return outputs

    def _nat_gateway(self, args: MockResourceArgs, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
        with self._lock:
            subnet = dict(self._subnets.get(inputs.get("subnetId", ""), {}))
            public_ip = self._eips.get(inputs.get("allocationId", ""), "")
        private_ip = self._allocate(subnet["cidrBlock"], args.name) if subnet.get("cidrBlock") else ""
        return {
            "publicIp": public_ip,
            "privateIp": private_ip,
            "networkInterfaceId": ec2_id("eni", args.name),
            "connectivityType": inputs.get("connectivityType", "public"),
        }

    def _load_balancer(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        """A Network Load Balancer as ELBv2 describes it: `net/<name>/<16 hex>`, a DNS name under elb.<region>."""
        kind = "net" if inputs.get("loadBalancerType") == "network" else "app"
        suffix = f"{kind}/{name}/{digest('elbv2', args.name)[:16]}"
        domain = f"elb.{self.region}.amazonaws.com"
        return {
            "arn": self._arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
            "arnSuffix": suffix,
            "dnsName": f"{name}-{digest('dns', args.name)[:16]}.{domain}",
            "zoneId": NLB_HOSTED_ZONES.get(self.region, "Z26RNL4JYFTOTI"),
            "vpcId": self._subnet_vpc(inputs.get("subnets") or []),
            "ipAddressType": inputs.get("ipAddressType", "ipv4"),
            "internal": inputs.get("internal", False),
        }

    def _subnet_vpc(self, subnet_ids: list[Any]) -> str:
        with self._lock:
            vpcs = {str(self._subnets[s].get("vpcId")) for s in subnet_ids if s in self._subnets}
        return vpcs.pop() if len(vpcs) == 1 else ""

    def _target_group(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        suffix = f"targetgroup/{name}/{digest('tg', args.name)[:16]}"
        arn = self._arn("elasticloadbalancing", suffix)
        return {"arn": arn, "id": arn, "arnSuffix": suffix, "loadBalancerArns": []}

    def _listener(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        balancer = str(inputs.get("loadBalancerArn", ""))
        prefix = balancer.replace(":loadbalancer/", ":listener/") if ":loadbalancer/" in balancer else balancer
        arn = f"{prefix}/{digest('listener', args.name)[:16]}"
        return {"arn": arn, "id": arn}

    def _iam(
        self,
        inputs: dict[str, Any],
        *,
        kind: str,
        name: str,
        prefix: str,
        id_: str | None = None,
        unique: str = "uniqueId",
    ) -> dict[str, Any]:
        arn = self._arn("iam", f"{kind}{inputs.get('path', '/')}{name}", region=False)
        return {"arn": arn, "id": id_ or arn, unique: prefix + digest(kind, name)[:17].upper()}

    def _kms_key(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        """A symmetric key as KMS describes it: a UUID key ID (also the provider's resource ID)."""
        key_id = str(uuid.UUID(digest("kms-key", args.name)[:32]))
        return {
            "id": key_id,
            "keyId": key_id,
            "arn": self._arn("kms", f"key/{key_id}"),
            "keyUsage": inputs.get("keyUsage", "ENCRYPT_DECRYPT"),
            "customerMasterKeySpec": inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
            "isEnabled": inputs.get("isEnabled", True),
            "multiRegion": inputs.get("multiRegion", False),
            "rotationPeriodInDays": inputs.get("rotationPeriodInDays", 365 if inputs.get("enableKeyRotation") else 0),
        }

    # -- invokes ---------------------------------------------------------------------------

    def _call(self, args: MockCallArgs) -> dict[str, Any]:
        inputs = unwrap_secrets(args.args)
        token = args.token
        if token == "aws:ssm/getParametersByPath:getParametersByPath":
            return self._parameters_by_path(inputs)
        return self._account_call(token, inputs)

    def _account_call(self, token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            count = ZONE_COUNTS.get(self.region, 3)
            names = [f"{self.region}{chr(ord('a') + index)}" for index in range(count)]
            names = [zone for zone in names if zone not in (inputs.get("excludeNames") or [])]
            return {
                "id": self.region,
                "names": names,
                "zoneIds": [self._zone_id(zone) for zone in names],
                "groupNames": [self.region] * len(names),
                "state": inputs.get("state"),
            }
        if token == "aws:ec2/getAmi:getAmi":
            return self._ami(inputs)
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "id": self.account_id,
                "accountId": self.account_id,
                "userId": "AIDA" + digest("user")[:17].upper(),
                "arn": self._arn("iam", "user/offline-render", region=False),
            }
        if token == "aws:index/getPartition:getPartition":
            suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
            return {
                "id": self.partition,
                "partition": self.partition,
                "dnsSuffix": suffix,
                "reverseDnsPrefix": ".".join(reversed(suffix.split("."))),
            }
        if token == "aws:index/getRegion:getRegion":
            return {
                "id": self.region,
                "name": self.region,
                "region": self.region,
                "description": f"offline placeholder for {self.region}",
                "endpoint": f"ec2.{self.region}.amazonaws.com",
            }
        return {}

    def _parameters_by_path(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """`ssm_parameters` directly below the path (a path with none is no error, as in SSM)."""
        path = str(inputs["path"]).rstrip("/")
        found = {name: value for name, value in self.ssm_parameters.items() if name.rsplit("/", 1)[0] == path}
        return {
            "id": path,
            "path": path,
            "arns": [self._arn("ssm", f"parameter{name}") for name in found],
            "names": list(found),
            "values": list(found.values()),
            "types": ["String"] * len(found),
            "withDecryption": inputs.get("withDecryption", True),
        }

    def _ami(self, inputs: dict[str, Any]) -> dict[str, Any]:
        filters = {item.get("name"): list(item.get("values") or []) for item in inputs.get("filters") or []}
        pattern = (filters.get("name") or ["offline-image-*"])[0]
        name = pattern.replace("*", AMI_DATE, 1).replace("*", "")
        architecture = (filters.get("architecture") or ["arm64" if "arm64" in name else "x86_64"])[0]
        owner = (inputs.get("owners") or [self.account_id])[0]
        ami = ec2_id("ami", f"{self.region}|{name}|{architecture}")
        return {
            "id": ami,
            "imageId": ami,
            "name": name,
            "architecture": architecture,
            "ownerId": owner,
            "imageLocation": f"{owner}/{name}",
            "rootDeviceName": "/dev/sda1",
            "rootDeviceType": "ebs",
            "virtualizationType": "hvm",
            "state": "available",
            "platformDetails": "Linux/UNIX",
            "creationDate": f"{AMI_DATE[:4]}-{AMI_DATE[4:6]}-{AMI_DATE[6:]}T00:00:00.000Z",
            "arn": self._arn("ec2", f"image/{ami}"),
        }
