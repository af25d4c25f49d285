"""`OfflineMocks`: what AWS, pulumi-random and pulumi-tls would answer, without any of them.

Every AWS-assigned value (IDs, ARNs, the Amazon IPv6 /56, addresses, the AMI) is a realistic
PLACEHOLDER derived from a hash of the resource name, so the same program always gets the same
values. Addresses come from documentation ranges where AWS would assign public ones (instance
public IPs from 203.0.113.0/24, Elastic IPs from 198.51.100.0/24). pulumi-tls resources get
real keys and certificates (`tools.offline.tlsgen`).

With `preview=True` the mocks answer like the engine does for a stack that does not exist yet:
no ID and only the inputs, so the SDK resolves every computed output (IDs, `certPem`,
`ipv6CidrBlock`, ...) as unknown and `apply` callbacks on them do not run
(`pulumi.runtime.rpc.resolve_outputs` marks a missing output unknown during a dry run, and
`resource.py` treats an empty ID as unknown). Invokes answer in both modes, as they do in a
real preview.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from tools.offline import tlsgen
from tools.offline.capture import unwrap_secrets

ACCOUNT_ID = "123456789012"
AMI_DATE = "20250115"
# AWS allocates VPC IPv6 /56 blocks from 2600:1f18::/32 in us-east-1 (one of Amazon's pools).
AMAZON_IPV6_POOL = ipaddress.IPv6Network("2600:1f18::/32")
INSTANCE_PUBLIC_RANGE = ipaddress.IPv4Network("203.0.113.0/24")  # RFC 5737 TEST-NET-3
EIP_RANGE = ipaddress.IPv4Network("198.51.100.0/24")  # RFC 5737 TEST-NET-2
RANDOM_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
_ZONE_COUNTS = {"us-east-1": 6, "us-west-2": 4, "ap-northeast-1": 3}
# EC2 ID prefix and ARN resource kind per resource type.
_EC2_IDS: dict[str, tuple[str, str]] = {
    "aws:ec2/vpc:Vpc": ("vpc", "vpc"),
    "aws:ec2/subnet:Subnet": ("subnet", "subnet"),
    "aws:ec2/securityGroup:SecurityGroup": ("sg", "security-group"),
    "aws:ec2/instance:Instance": ("i", "instance"),
    "aws:ec2/eip:Eip": ("eipalloc", "elastic-ip"),
    "aws:ec2/internetGateway:InternetGateway": ("igw", "internet-gateway"),
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": ("eigw", "egress-only-internet-gateway"),
    "aws:ec2/routeTable:RouteTable": ("rtb", "route-table"),
    "aws:ec2/natGateway:NatGateway": ("nat", "natgateway"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("lt", "launch-template"),
    "aws:ec2/networkInterface:NetworkInterface": ("eni", "network-interface"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("rtbassoc", "route-table-association"),
    "aws:ec2/eipAssociation:EipAssociation": ("eipassoc", "eip-association"),
    "aws:ec2/keyPair:KeyPair": ("key", "key-pair"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("sgr", "security-group-rule"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("sgr", "security-group-rule"),
    "aws:ec2/securityGroupRule:SecurityGroupRule": ("sgrule", "security-group-rule"),
}
# Types the provider auto-names (`<name>-<7 random chars>`) when the program sets no name.
_AUTONAMED = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/instanceProfile:InstanceProfile": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:ssm/parameter:Parameter": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/keyPair:KeyPair": "keyName",
    "aws:lb/loadBalancer:LoadBalancer": "name",
    "aws:lb/targetGroup:TargetGroup": "name",
    "aws:autoscaling/group:Group": "name",
}
# Elastic Load Balancing names are at most 32 characters; the provider shortens the logical name.
_NAME_LIMITS = {"aws:lb/loadBalancer:LoadBalancer": 32, "aws:lb/targetGroup:TargetGroup": 32}
# Route 53 hosted zone of a region's Network Load Balancers (the load balancer's `zoneId`).
_NLB_HOSTED_ZONES = {"us-east-1": "Z26RNL4JYFTOTI", "us-west-2": "Z18D5FSROUN65G", "eu-west-1": "Z2IFOLAFXWLO4F"}

Handler = Callable[[MockResourceArgs, dict[str, Any], str], dict[str, Any]]


def digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def ec2_id(prefix: str, name: str) -> str:
    """An EC2-style ID with 17 hex digits, e.g. `vpc-0a1b2c3d4e5f60718`."""
    return f"{prefix}-0{digest(prefix, name)[:16]}"


def _host(network: ipaddress.IPv4Network | ipaddress.IPv6Network, key: str, used: set[str]) -> str:
    """An address of `network` chosen by hash, skipping AWS's reserved first four and last one."""
    usable = min(network.num_addresses - 5, 2**32)
    if usable <= 0:
        raise ValueError(f"{network} has no usable addresses")
    offset = int(digest(key, network)[:16], 16) % usable
    for step in range(usable):
        address = str(network[4 + (offset + step) % usable])
        if address not in used:
            used.add(address)
            return address
    raise ValueError(f"{network} is full")


def _in_range(network: ipaddress.IPv4Network, key: str) -> str:
    return str(network[1 + int(digest(key)[:8], 16) % (network.num_addresses - 2)])


def _dashed(address: str) -> str:
    return address.replace(".", "-")


def deterministic_string(name: str, inputs: dict[str, Any]) -> str:
    """Deterministic stand-in for pulumi-random: honours length, classes and minimums. NOT random."""
    length = int(inputs.get("length", 16))
    classes = {
        "upper": ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "minUpper"),
        "lower": ("abcdefghijklmnopqrstuvwxyz", "minLower"),
        "numeric": ("0123456789", "minNumeric"),
        "special": (inputs.get("overrideSpecial") or RANDOM_SPECIAL, "minSpecial"),
    }
    enabled = {key: chars for key, (chars, _) in classes.items() if inputs.get(key, True) and chars}
    if not enabled:
        raise ValueError(f"random string {name}: every character class is disabled")
    stream = iter(bytes.fromhex("".join(digest(name, "random", block) for block in range(8 + length // 8))))
    picked = [
        chars[next(stream) % len(chars)]
        for key, chars in enabled.items()
        for _ in range(int(inputs.get(classes[key][1], 0)))
    ]
    alphabet = "".join(enabled.values())
    picked += [alphabet[next(stream) % len(alphabet)] for _ in range(max(0, length - len(picked)))]
    # Deterministic shuffle so minimum-class characters are not all at the front.
    order = sorted(range(len(picked)), key=lambda index: digest(name, "order", index))
    return "".join(picked[index] for index in order)[: max(length, len(picked))]


class OfflineMocks(Mocks):
    """Deterministic answers for every resource and invoke of the program; see the module docstring.

    Thread-safe: the SDK calls the monitor from several executor threads at once.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        account_id: str = ACCOUNT_ID,
        preview: bool = False,
        now: dt.datetime | None = None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.preview = preview
        self.now = now or tlsgen.mock_now()
        self._lock = threading.Lock()
        self._subnets: dict[str, dict[str, Any]] = {}
        self._eips: dict[str, str] = {}
        self._used: dict[str, set[str]] = {}
        self._handlers: dict[str, Handler] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._subnet,
            "aws:ec2/instance:Instance": self._instance,
            "aws:ec2/eip:Eip": self._eip,
            "aws:ec2/natGateway:NatGateway": self._nat_gateway,
            "aws:ec2/launchTemplate:LaunchTemplate": lambda a, i, n: {"latestVersion": 1, "defaultVersion": 1},
            "aws:lb/loadBalancer:LoadBalancer": self._load_balancer,
            "aws:lb/targetGroup:TargetGroup": self._target_group,
            "aws:lb/listener:Listener": self._listener,
            "aws:lb/targetGroupAttachment:TargetGroupAttachment": lambda a, i, n: {
                "id": f"{i.get('targetGroupArn')}-{digest(a.name)[:20]}"
            },
            "aws:autoscaling/group:Group": lambda a, i, n: {
                "arn": self._arn(
                    "autoscaling",
                    f"autoScalingGroup:{uuid.UUID(digest('asg', a.name)[:32])}:autoScalingGroupName/{n}",
                ),
                "id": n,
            },
            "aws:ec2/securityGroup:SecurityGroup": lambda a, i, n: {"ownerId": self.account_id},
            "aws:iam/role:Role": lambda a, i, n: self._iam(i, kind="role", name=n, prefix="AROA", id_=n),
            "aws:iam/policy:Policy": lambda a, i, n: self._iam(
                i, kind="policy", name=n, prefix="ANPA", unique="policyId"
            ),
            "aws:iam/instanceProfile:InstanceProfile": lambda a, i, n: self._iam(
                i, kind="instance-profile", name=n, prefix="AIPA", id_=n
            ),
            "aws:iam/rolePolicy:RolePolicy": lambda a, i, n: {"id": f"{i.get('role')}:{n}"},
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda a, i, n: {
                "id": f"{i.get('role')}-{digest(a.name)[:20]}"
            },
            "aws:ssm/parameter:Parameter": lambda a, i, n: {
                "id": n,
                "arn": self._arn("ssm", f"parameter/{n.lstrip('/')}"),
                "version": 1,
                "tier": i.get("tier", "Standard"),
                "dataType": i.get("dataType", "text"),
            },
            "aws:ec2/route:Route": lambda a, i, n: {"id": f"r-{i.get('routeTableId')}{int(digest(a.name)[:8], 16)}"},
            "aws:ec2/subnetCidrReservation:SubnetCidrReservation": lambda a, i, n: {
                "id": ec2_id("scr", a.name),
                "ownerId": self.account_id,
            },
            "aws:kms/key:Key": self._kms_key,
            "aws:kms/alias:Alias": lambda a, i, n: {
                "id": i.get("name", n),
                "arn": self._arn("kms", str(i.get("name", n))),
                "targetKeyArn": self._arn("kms", f"key/{i.get('targetKeyId')}"),
            },
            "tls:index/privateKey:PrivateKey": lambda a, i, n: tlsgen.private_key_outputs(a.name, i),
            "tls:index/selfSignedCert:SelfSignedCert": lambda a, i, n: tlsgen.self_signed_cert_outputs(
                a.name, i, self.now
            ),
            "tls:index/certRequest:CertRequest": lambda a, i, n: tlsgen.cert_request_outputs(a.name, i),
            "tls:index/locallySignedCert:LocallySignedCert": lambda a, i, n: tlsgen.locally_signed_cert_outputs(
                a.name, i, self.now
            ),
            "random:index/randomString:RandomString": self._random_string,
            "random:index/randomPassword:RandomPassword": self._random_string,
            "random:index/randomId:RandomId": self._random_id,
        }

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
        return f"ec2-{_dashed(address)}.{zone}.amazonaws.com"

    def _zone_id(self, zone: str) -> str:
        region, letter = zone[:-1], zone[-1]
        parts = region.split("-")
        return f"{parts[0]}{''.join(part[0] for part in parts[1:-1])}{parts[-1]}-az{ord(letter) - ord('a') + 1}"

    def _allocate(self, cidr: str, key: str) -> str:
        with self._lock:
            return _host(ipaddress.ip_network(cidr), key, self._used.setdefault(cidr, set()))

    # -- resources ---------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if self.preview or not args.custom:
            # A new stack's preview: inputs only, no ID; every computed output stays unknown.
            return None, dict(args.inputs)
        inputs = unwrap_secrets(args.inputs)
        attribute = _AUTONAMED.get(args.typ)
        name = inputs.get(attribute) if attribute else None
        computed: dict[str, Any] = {}
        if attribute and not name:
            suffix = digest(args.typ, args.name)[:7]
            limit = _NAME_LIMITS.get(args.typ, 255)
            name = f"{args.name[: limit - len(suffix) - 1]}-{suffix}"
            computed[attribute] = name
        resource_id: str = name or f"{args.name}-{digest(args.typ, args.name)[:8]}"
        if args.typ in _EC2_IDS:
            prefix, kind = _EC2_IDS[args.typ]
            resource_id = ec2_id(prefix, args.name)
            computed["arn"] = self._arn("ec2", f"{kind}/{resource_id}")
        elif args.typ.startswith("pulumi:providers:"):
            resource_id = str(uuid.UUID(digest("provider", args.typ, args.name)[:32]))
        elif args.typ.startswith("kubernetes:"):
            resource_id = self._kubernetes_id(args, inputs, computed)
        if args.typ.startswith("aws:") and "tags" in inputs:
            computed["tagsAll"] = inputs["tags"]
        handler = self._handlers.get(args.typ)
        if handler is not None:
            computed.update(handler(args, {**inputs, **computed, "id": resource_id}, name or resource_id))
        resource_id = str(computed.pop("id", resource_id))
        state = {**args.inputs, **computed}
        if args.typ == "aws:ec2/subnet:Subnet":
            with self._lock:
                self._subnets[resource_id] = {**inputs, **computed}
        return resource_id, state

    def _kubernetes_id(self, args: MockResourceArgs, inputs: dict[str, Any], computed: dict[str, Any]) -> str:
        metadata = dict(inputs.get("metadata") or {})
        if not metadata.get("name"):
            # pulumi-kubernetes auto-names with a random suffix; here a hash of the resource name.
            metadata["name"] = f"{args.name}-{digest(args.name)[:8]}"
            computed["metadata"] = metadata
        return f"{metadata['namespace']}/{metadata['name']}" if metadata.get("namespace") else str(metadata["name"])

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
        host = resource_id if hostname_type == "resource-name" else f"ip-{_dashed(private_ip)}"
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
            public_ip = _in_range(INSTANCE_PUBLIC_RANGE, args.name)
            outputs.update(publicIp=public_ip, publicDns=self._public_dns(public_ip))
        if isinstance(inputs.get("rootBlockDevice"), dict):
            outputs["rootBlockDevice"] = {**inputs["rootBlockDevice"], "volumeId": ec2_id("vol", args.name)}
        return outputs

    def _eip(self, args: MockResourceArgs, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
        public_ip = _in_range(EIP_RANGE, args.name)
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
            "zoneId": _NLB_HOSTED_ZONES.get(self.region, "Z26RNL4JYFTOTI"),
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

    def _random_string(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        result = deterministic_string(args.name, inputs)
        return {"result": result, "id": "none" if args.typ.endswith("RandomPassword") else result}

    def _random_id(self, args: MockResourceArgs, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        data = bytes.fromhex(digest("random-id", args.name))[: int(inputs.get("byteLength", 8))]
        prefix = inputs.get("prefix", "")
        url = base64.urlsafe_b64encode(data).decode().rstrip("=")
        return {
            "id": url,
            "b64Url": prefix + url,
            "b64Std": prefix + base64.b64encode(data).decode(),
            "hex": prefix + data.hex(),
            "dec": prefix + str(int.from_bytes(data, "big")),
        }

    # -- invokes ---------------------------------------------------------------------------

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # Failures must be a list: the stock MockMonitor iterates them whenever a tuple comes back.
        return self._call(args), []

    def _call(self, args: MockCallArgs) -> dict[str, Any]:
        inputs = unwrap_secrets(args.args)
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            count = _ZONE_COUNTS.get(self.region, 3)
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
