"""moto's resources as the enforcing AWS proxy (e2e/aws_proxy.py) reads and amends them, with boto3.

The lookups AWS's authorization needs (`e2e/aws_authz.AwsState`: an existing resource's tags, a
security group's VPC), and what AWS does on an allowed call that moto does not: the ELB
service-linked role with the account's first load balancer, a new classic ELB's default health
check, and the settings a repeated CreateTargetGroup is compared by.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from e2e.aws_authz import AwsState, SecurityGroupState

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SERVICE_LINKED_ROLE = "AWSServiceRoleForElasticLoadBalancing"
# The CreateTargetGroup settings AWS compares before answering a repeated create with the existing group.
TARGET_GROUP_SETTINGS = (
    "Protocol",
    "Port",
    "VpcId",
    "TargetType",
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckIntervalSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)
CLASSIC_DEFAULT_HEALTH_CHECK = {"Interval": 30, "Timeout": 5, "UnhealthyThreshold": 2, "HealthyThreshold": 10}


class MotoState(AwsState):
    """The existing resources' tags (and a group's VPC) as moto holds them, read with boto3."""

    def __init__(self, moto_url: str, region: str) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, region_name=region, endpoint_url=moto_url, **DUMMY_CREDENTIALS)

        self.ec2, self.elb, self.elbv2, self.iam = client("ec2"), client("elb"), client("elbv2"), client("iam")

    def security_group(self, group_id: str) -> SecurityGroupState | None:
        try:
            groups = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except ClientError:
            return None
        if not groups:
            return None
        tags = {tag["Key"]: tag["Value"] for tag in groups[0].get("Tags", [])}
        return SecurityGroupState(tags, groups[0].get("VpcId", ""))

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]:
        found = self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {tag["Key"]: tag["Value"] for tag in found}

    def classic_load_balancer_tags(self, name: str) -> Mapping[str, str]:
        try:
            described = self.elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"]
        except ClientError:
            return {}
        return {tag["Key"]: tag["Value"] for entry in described for tag in entry.get("Tags", [])}

    def elbv2_tags(self, arn: str) -> Mapping[str, str]:
        try:
            described = self.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        except ClientError:
            return {}
        return {tag["Key"]: tag["Value"] for entry in described for tag in entry.get("Tags", [])}

    def elbv2_load_balancer_type(self, arn: str) -> str | None:
        try:
            found = self.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        except ClientError:
            return None
        return str(found[0]["Type"]) if found else None

    def target_group_has_settings(self, name: str, params: Mapping[str, str]) -> bool:
        """Whether moto's target group `name` has every setting a CreateTargetGroup request gives."""
        try:
            found = self.elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError:
            return False
        if len(found) != 1:
            return False
        existing = {key: str(value) for key, value in found[0].items() if not isinstance(value, (dict, list))}
        compared = [key for key in TARGET_GROUP_SETTINGS if key in params]
        return all(existing.get(key) == params[key] for key in compared)

    def service_linked_role_exists(self, service: str) -> bool:
        try:
            self.iam.get_role(RoleName=SERVICE_LINKED_ROLE)
        except ClientError:
            return False
        return True

    def default_classic_health_check(self, name: str, instance_port: int) -> dict[str, Any]:
        """The health check AWS gives a classic ELB created without one (TCP on the first listener's
        instance port; the Classic Load Balancer guide's default interval, timeout and thresholds),
        set in moto, which leaves it empty."""
        check = {**CLASSIC_DEFAULT_HEALTH_CHECK, "Target": f"TCP:{instance_port}"}
        self.elb.configure_health_check(LoadBalancerName=name, HealthCheck=check)
        return check

    def create_service_linked_role(self, service: str) -> None:
        """What AWS does on the account's first load balancer, once the caller may. Created as a
        plain role under AWS's name and path (moto's CreateServiceLinkedRole names it differently)."""
        if not self.service_linked_role_exists(service):
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            }
            self.iam.create_role(
                RoleName=SERVICE_LINKED_ROLE,
                Path=f"/aws-service-role/{service}/",
                AssumeRolePolicyDocument=json.dumps(trust),
            )
