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
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from tools.offline import tlsgen
from tools.offline.capture import unwrap_secrets
from tools.offline.mock_aws import AwsPlaceholders
from tools.offline.mock_values import (
    ACCOUNT_ID,
    AMAZON_IPV6_POOL,
    AMI_DATE,
    AUTONAMED,
    EC2_IDS,
    EIP_RANGE,
    INSTANCE_PUBLIC_RANGE,
    NAME_LIMITS,
    RANDOM_SPECIAL,
    deterministic_string,
    digest,
    ec2_id,
)

__all__ = [
    "ACCOUNT_ID",
    "AMAZON_IPV6_POOL",
    "AMI_DATE",
    "EIP_RANGE",
    "INSTANCE_PUBLIC_RANGE",
    "RANDOM_SPECIAL",
    "AwsPlaceholders",
    "Handler",
    "OfflineMocks",
    "deterministic_string",
    "digest",
    "ec2_id",
]

Handler = Callable[[MockResourceArgs, dict[str, Any], str], dict[str, Any]]


class OfflineMocks(AwsPlaceholders, Mocks):
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
        AwsPlaceholders.__init__(self, region, account_id)
        self.preview = preview
        self.now = now or tlsgen.mock_now()
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

    # -- resources ---------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if self.preview or not args.custom:
            # A new stack's preview: inputs only, no ID; every computed output stays unknown.
            return None, dict(args.inputs)
        inputs = unwrap_secrets(args.inputs)
        attribute = AUTONAMED.get(args.typ)
        name = inputs.get(attribute) if attribute else None
        computed: dict[str, Any] = {}
        if attribute and not name:
            suffix = digest(args.typ, args.name)[:7]
            limit = NAME_LIMITS.get(args.typ, 255)
            name = f"{args.name[: limit - len(suffix) - 1]}-{suffix}"
            computed[attribute] = name
        resource_id: str = name or f"{args.name}-{digest(args.typ, args.name)[:8]}"
        if args.typ in EC2_IDS:
            prefix, kind = EC2_IDS[args.typ]
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
