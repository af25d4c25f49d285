"""The cleanup's guarantee when the cluster could not be reached: what the CCM made in AWS for this
cluster (classic load balancers and their security groups), found by the cluster tag and deleted."""

from __future__ import annotations

import time
from typing import Any


def sweep_load_balancers(cluster: str, elb: Any, ec2: Any, interval: float = 10.0) -> list[str]:
    """Classic load balancers the CCM made for this cluster (cluster tag) and their `k8s-elb-*`
    security groups, with the node group rules that reference them: deleted (boto3 `elb` and `ec2`
    clients). Normally nothing is left (the Service's deletion waits for the CCM); this is the
    guarantee when the cluster could not be reached."""
    key = f"kubernetes.io/cluster/{cluster}"
    deleted = []
    names = [
        description["LoadBalancerName"]
        for page in elb.get_paginator("describe_load_balancers").paginate()
        for description in page["LoadBalancerDescriptions"]
    ]
    for start in range(0, len(names), 20):
        for described in elb.describe_tags(LoadBalancerNames=names[start : start + 20])["TagDescriptions"]:
            if any(tag["Key"] == key for tag in described.get("Tags", [])):
                elb.delete_load_balancer(LoadBalancerName=described["LoadBalancerName"])
                deleted.append(f"load balancer {described['LoadBalancerName']}")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{key}", "Values": ["owned"]}, {"Name": "group-name", "Values": ["k8s-elb-*"]}]
    )["SecurityGroups"]
    for group in groups:
        group_id = group["GroupId"]
        referencing = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [group_id]}])
        for other in referencing["SecurityGroups"]:
            permissions = [
                {**rule, "UserIdGroupPairs": [pair for pair in rule["UserIdGroupPairs"] if pair["GroupId"] == group_id]}
                for rule in other["IpPermissions"]
                if any(pair.get("GroupId") == group_id for pair in rule.get("UserIdGroupPairs", []))
            ]
            if permissions:
                ec2.revoke_security_group_ingress(GroupId=other["GroupId"], IpPermissions=permissions)
        _delete_group_when_free(ec2, group_id, interval=interval)
        deleted.append(f"security group {group_id} ({group['GroupName']})")
    return deleted


def _delete_group_when_free(ec2: Any, group_id: str, attempts: int = 30, interval: float = 10.0) -> None:
    """A load balancer's interfaces outlive it by a minute or two: DependencyViolation until they go."""
    for attempt in range(attempts):
        try:
            ec2.delete_security_group(GroupId=group_id)
            return
        except Exception as error:
            if "DependencyViolation" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(interval)
