"""The API load balancer's calls (Elastic Load Balancing v2), as the Pulumi AWS provider makes them:
the load balancer, its target group, the listener and one target registration per control plane.

The provider (terraform-provider-aws, `internal/service/elbv2`: `load_balancer.go`,
`target_group.go`, `listener.go`, `target_group_attachment.go`) creates each with one call and
then sets the attributes it has no create parameter for with a second one
(`ModifyLoadBalancerAttributes`, `ModifyTargetGroupAttributes`); a name it would generate
(`<name>-<hex>`) is the logical name here, as for the other resources.

moto (5.2, `moto/elbv2/models.py`) implements these calls, with gaps the replay does not paper
over; each handler says which it meets. What moto checks for real: the subnets exist (and the load
balancer's zones and VPC come from them), the listener's protocol fits the load balancer's type
(TCP only on a network load balancer), the forwarded target group exists, a target group name's
length and characters, a health check timeout not above its interval, a registered instance is
running, and a load balancer attribute key is one it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tools.aws_replay_base import INSTANCE, SECURITY_GROUP, SUBNET, VPC, ApiCalls, PlannedResource, tag_list

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP_ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"

LOAD_BALANCER_ATTRIBUTES: dict[str, tuple[str, frozenset[str]]] = {
    "enableCrossZoneLoadBalancing": ("load_balancing.cross_zone.enabled", frozenset({"network", "gateway"})),
    "enableDeletionProtection": ("deletion_protection.enabled", frozenset({"application", "network", "gateway"})),
}
"""Load balancer input -> (API attribute, the load balancer types the provider sends it for)."""

TARGET_GROUP_ATTRIBUTES: dict[str, str] = {
    "deregistrationDelay": "deregistration_delay.timeout_seconds",
    "preserveClientIp": "preserve_client_ip.enabled",
    "proxyProtocolV2": "proxy_protocol_v2.enabled",
    "connectionTermination": "deregistration_delay.connection_termination.enabled",
    "slowStart": "slow_start.duration_seconds",
    "loadBalancingCrossZoneEnabled": "load_balancing.cross_zone.enabled",
}
"""Target group input -> API attribute, sent for `instance` and `ip` target groups."""

HEALTH_CHECK_DEFAULTS = {"enabled": True, "interval": 30, "healthyThreshold": 3, "unhealthyThreshold": 3}
"""The provider's schema defaults for a health check block that leaves them out."""


def attribute_value(value: Any) -> str:
    """An attribute value as the API takes it: "true"/"false", whole numbers without ".0"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def health_check_params(check: Mapping[str, Any], target_type: str) -> dict[str, Any]:
    """`CreateTargetGroup`'s HealthCheck* parameters for the input `healthCheck` block."""
    check = {**HEALTH_CHECK_DEFAULTS, **check}
    params: dict[str, Any] = {
        "HealthCheckEnabled": bool(check["enabled"]),
        "HealthCheckIntervalSeconds": int(check["interval"]),
        "HealthyThresholdCount": int(check["healthyThreshold"]),
        "UnhealthyThresholdCount": int(check["unhealthyThreshold"]),
    }
    if check.get("timeout"):
        params["HealthCheckTimeoutSeconds"] = int(check["timeout"])
    protocol = str(check.get("protocol", "HTTP"))
    if protocol != "TCP":  # a TCP check has no path and no success codes
        if check.get("path"):
            params["HealthCheckPath"] = str(check["path"])
        if check.get("matcher"):
            params["Matcher"] = {"HttpCode": str(check["matcher"])}
    if target_type != "lambda":
        params["HealthCheckPort"] = str(check.get("port", "traffic-port"))
        params["HealthCheckProtocol"] = protocol
    return params


class LoadBalancerCalls(ApiCalls):
    """A mixin of `ApiCalls`: one method per load balancing resource type."""

    def load_balancer(self, r: PlannedResource) -> None:
        """`CreateLoadBalancer`, wait until active, then `ModifyLoadBalancerAttributes`.

        moto gaps: the ARN says `loadbalancer/app/` whatever the type (AWS: `net/` for a network
        load balancer); a `dualstack` load balancer's subnets need no IPv6 block in moto (AWS
        requires one); the security groups are not looked up; the DNS name is made up; and with
        no `Scheme` moto stores none, where AWS takes `internet-facing`. The provider sends
        `Scheme` only for an internal load balancer, so the replay sends AWS's default explicitly
        for an internet-facing one: the same request to AWS, and a scheme moto can be asked for."""
        i = r.inputs
        lb_type = str(i.get("loadBalancerType", "application"))
        params: dict[str, Any] = {
            "Name": str(i.get("name", r.name)),
            "Type": lb_type,
            "Scheme": "internal" if i.get("internal") else "internet-facing",
            "Subnets": self.every_ref(r, "subnets", SUBNET),
            "Tags": tag_list(i),
        }
        if i.get("securityGroups"):
            params["SecurityGroups"] = self.every_ref(r, "securityGroups", SECURITY_GROUP)
        if i.get("ipAddressType"):
            params["IpAddressType"] = str(i["ipAddressType"])
        (balancer,) = self.call(r, "elbv2", "create_load_balancer", **params)["LoadBalancers"]
        arn = str(balancer["LoadBalancerArn"])
        self._wait_active(r, arn)
        # Access logs off unless configured (application and network), then every declared attribute.
        attributes = [{"Key": "access_logs.s3.enabled", "Value": "false"}] if lb_type != "gateway" else []
        attributes += [
            {"Key": attribute, "Value": attribute_value(i[key])}
            for key, (attribute, types) in LOAD_BALANCER_ATTRIBUTES.items()
            if key in i and lb_type in types
        ]
        if attributes:
            self.call(r, "elbv2", "modify_load_balancer_attributes", LoadBalancerArn=arn, Attributes=attributes)
            self._wait_active(r, arn)
        self.done(r, arn)

    def _wait_active(self, r: PlannedResource, arn: str) -> None:
        """The provider polls `DescribeLoadBalancers` until the state is `active` (minutes on AWS);
        moto turns a load balancer active on its first describe, so one call is the whole wait."""
        (described,) = self.call(r, "elbv2", "describe_load_balancers", LoadBalancerArns=[arn])["LoadBalancers"]
        state = described["State"]["Code"]
        if state != "active":
            raise self.fail(r, f"load balancer {arn} is {state}, not active")

    def target_group(self, r: PlannedResource) -> None:
        """`CreateTargetGroup` with the health check, then `ModifyTargetGroupAttributes`.

        moto gaps: it stores any target group attribute it is given without checking the key or
        the value, and it has no `preserve_client_ip.enabled` of its own (AWS: on by default for
        instance targets), so what moto holds for it is exactly what the replay sent; it runs no
        health check."""
        i = r.inputs
        target_type = str(i.get("targetType", "instance"))
        params: dict[str, Any] = {"Name": str(i.get("name", r.name)), "TargetType": target_type, "Tags": tag_list(i)}
        if target_type != "lambda":
            params.update(Port=int(i["port"]), Protocol=str(i["protocol"]), VpcId=self.ref(r, "vpcId", VPC))
            if params["Protocol"] in ("HTTP", "HTTPS"):
                params["ProtocolVersion"] = str(i.get("protocolVersion", "HTTP1"))
            if i.get("ipAddressType"):
                params["IpAddressType"] = str(i["ipAddressType"])
        if i.get("healthCheck"):
            params.update(health_check_params(i["healthCheck"], target_type))
        (group,) = self.call(r, "elbv2", "create_target_group", **params)["TargetGroups"]
        arn = str(group["TargetGroupArn"])
        if target_type in ("instance", "ip"):
            attributes = [
                {"Key": attribute, "Value": attribute_value(i[key])}
                for key, attribute in TARGET_GROUP_ATTRIBUTES.items()
                if key in i
            ]
            if attributes:
                self.call(r, "elbv2", "modify_target_group_attributes", TargetGroupArn=arn, Attributes=attributes)
        self.done(r, arn)

    def listener(self, r: PlannedResource) -> None:
        """`CreateListener` with its default actions, each numbered in order as the provider does.

        Only `forward` to one target group is mapped (what the program declares); moto checks the
        protocol against the load balancer's type and that the target group exists."""
        i = r.inputs
        actions: list[dict[str, Any]] = []
        for index, planned in enumerate(i.get("defaultActions", [])):
            if planned.get("type") != "forward" or "forward" in planned:
                raise self.fail(r, f"default action {index} of {r.name}: the replay maps forward to one target group")
            actions.append(
                {
                    "Type": "forward",
                    "Order": int(planned.get("order") or index + 1),
                    "TargetGroupArn": self.ref(r, "defaultActions", TARGET_GROUP),
                }
            )
        params: dict[str, Any] = {
            "LoadBalancerArn": self.ref(r, "loadBalancerArn", LOAD_BALANCER),
            "Port": int(i["port"]),
            "Protocol": str(i["protocol"]),
            "DefaultActions": actions,
            "Tags": tag_list(i),
        }
        (listener,) = self.call(r, "elbv2", "create_listener", **params)["Listeners"]
        self.done(r, str(listener["ListenerArn"]))

    def target_group_attachment(self, r: PlannedResource) -> None:
        """`RegisterTargets` with the one target, then `DescribeTargetHealth` of it, as the
        provider reads the registration back.

        An instance target is the replayed instance; any other target (an IP address) is the
        input as given. moto gap: it reports every registered running instance `healthy`
        without a health check."""
        i = r.inputs
        group = self.ref(r, "targetGroupArn", TARGET_GROUP)
        from_instance = any(self.types.get(urn) == INSTANCE for urn in r.property_dependencies.get("targetId", ()))
        target: dict[str, Any] = {"Id": self.ref(r, "targetId", INSTANCE) if from_instance else str(i["targetId"])}
        if "port" in i:
            target["Port"] = int(i["port"])
        if i.get("availabilityZone"):
            target["AvailabilityZone"] = str(i["availabilityZone"])
        self.call(r, "elbv2", "register_targets", TargetGroupArn=group, Targets=[target])
        (health,) = self.call(r, "elbv2", "describe_target_health", TargetGroupArn=group, Targets=[target])[
            "TargetHealthDescriptions"
        ]
        if health["TargetHealth"].get("Reason") == "Target.NotRegistered":
            raise self.fail(r, f"{target['Id']} is not registered in {group} after RegisterTargets")
        # The provider's ID is the target group's ARN and a unique suffix.
        self.done(r, f"{group}-{target['Id']}")


LOAD_BALANCER_HANDLERS: dict[str, Callable[[LoadBalancerCalls, PlannedResource], None]] = {
    LOAD_BALANCER: LoadBalancerCalls.load_balancer,
    TARGET_GROUP: LoadBalancerCalls.target_group,
    LISTENER: LoadBalancerCalls.listener,
    TARGET_GROUP_ATTACHMENT: LoadBalancerCalls.target_group_attachment,
}
"""Type token -> its calls, in the order of `tools.aws_replay_calls.HANDLERS`."""
