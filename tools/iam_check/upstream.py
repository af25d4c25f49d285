"""Where each AWS call of the CCM is in kubernetes/cloud-provider-aws, at every CCM tag of the matrix.

    python -m tools.iam_check.upstream --git-dir <a clone of kubernetes/cloud-provider-aws>

reads each matrix tag's `pkg/providers/v1` with `git show <tag>:<path>` and writes
`tools/iam_check/ccm_sources.json`: per tag, its commit, the file:line of every locator below
(a call site or a tag-carrying line, found by a regular expression that matches the code of every
SDK generation: `c.ec2.CreateSecurityGroup(request)` and `c.ec2.CreateSecurityGroup(ctx, request)`)
and the set of AWS SDK client calls in the provider's non-test code. `ccm_calls.py` builds each
release's call table from it: a row exists for a release only where its locator found the code at
that release's tag, so the citations and the tag-dependent rows (how security groups, target
groups and listeners are tagged) come from the code, not from memory. The JSON is checked in;
re-run this after changing a matrix tag (tests/test_iam_sim_tables.py fails until you do).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.versions import RELEASES

SOURCES_JSON = Path(__file__).resolve().parent / "ccm_sources.json"
REPOSITORY = "https://github.com/kubernetes/cloud-provider-aws"
PROVIDER = "pkg/providers/v1"
AWS_GO = f"{PROVIDER}/aws.go"
LB_GO = f"{PROVIDER}/aws_loadbalancer.go"
TAGS_GO = f"{PROVIDER}/tags.go"


@dataclass(frozen=True)
class Locator:
    """Code that shows one CCM call (or how it is tagged), searched in the listed files."""

    what: str
    searches: tuple[tuple[str, str], ...]
    """(path, regular expression) pairs; every matching line is cited."""


def _call(client: str, method: str, *paths: str) -> tuple[tuple[str, str], ...]:
    """An SDK client call `c.<client>.<Method>(` (receiver `c`, or the zone cache's `z.cloud`)."""
    return tuple((path, rf"\b(?:c|z\.cloud|t)\.{client}\.{method}\(") for path in paths)


LOCATORS: dict[str, Locator] = {
    # node initialisation (cloud-node, cloud-node-lifecycle)
    "ec2.DescribeInstances": Locator(
        "DescribeInstances for nodes (own instance, providerID lookups, lifecycle)",
        (
            *_call("ec2", "DescribeInstances", AWS_GO),
            (f"{PROVIDER}/describe_instance_batch.go", r"\.DescribeInstances\("),
        ),
    ),
    "instances-v2": Locator(
        "the provider implements InstancesV2 (node metadata, zone-id label)",
        ((f"{PROVIDER}/instances_v2.go", r"func \(c \*Cloud\) InstanceMetadata\("),),
    ),
    "zone-id-label": Locator(
        "InstanceMetadata reads the zone ID of the node's zone (DescribeAvailabilityZones, cached)",
        ((f"{PROVIDER}/instances_v2.go", r"zoneCache\.getZoneIDByZoneName\("),),
    ),
    "ec2.DescribeAvailabilityZones": Locator(
        "DescribeAvailabilityZones (zone types of load balancer subnets; zone IDs)",
        _call("ec2", "DescribeAvailabilityZones", AWS_GO, f"{PROVIDER}/zones.go"),
    ),
    "lb-subnet-zone-types": Locator(
        "load balancer subnet discovery drops local/wavelength zones by zone type (DescribeAvailabilityZones)",
        ((AWS_GO, r"\bc\.(?:getZoneTypesByName|zoneCache\.getZoneDetailsByNames)\("),),
    ),
    "ec2.DescribeInstanceTopology": Locator(
        "DescribeInstanceTopology, only for instance types matching the topology pattern",
        ((f"{PROVIDER}/topology.go", r"\.DescribeInstanceTopology\("),),
    ),
    "topology-pattern": Locator(
        "the instance types whose nodes get topology labels",
        ((f"{PROVIDER}/topology.go", r"defaultSupportedTopologyInstanceTypePattern = regexp"),),
    ),
    # subnets and security groups (both load balancer kinds)
    "ec2.DescribeSubnets": Locator(
        "DescribeSubnets (subnet discovery, CIDRs)", _call("ec2", "DescribeSubnets", AWS_GO)
    ),
    "ec2.DescribeRouteTables": Locator(
        "DescribeRouteTables (public/private subnet)", _call("ec2", "DescribeRouteTables", AWS_GO)
    ),
    "ec2.DescribeSecurityGroups": Locator(
        "DescribeSecurityGroups (ELB and node groups)", _call("ec2", "DescribeSecurityGroups", AWS_GO)
    ),
    "sg-read-repair": Locator(
        "ensureSecurityGroup: an existing k8s-elb-<lb> group without the cluster tag gets it (standalone CreateTags)",
        ((AWS_GO, r"c\.tagging\.readRepairClusterTags\("),),
    ),
    "tags.createTags": Locator(
        "awsTagging.createTags: the standalone ec2 CreateTags (retried with backoff)",
        ((TAGS_GO, r"\bclient\.CreateTags\("),),
    ),
    "ec2.CreateSecurityGroup": Locator(
        "CreateSecurityGroup k8s-elb-<lb> in the cluster VPC", _call("ec2", "CreateSecurityGroup", AWS_GO)
    ),
    "sg-tag-specifications": Locator(
        "the new group's tags ride on CreateSecurityGroup (TagSpecifications)",
        ((AWS_GO, r"createRequest\.TagSpecifications\b"),),
    ),
    "sg-separate-create-tags": Locator(
        "the new group is tagged by a separate, standalone CreateTags",
        ((AWS_GO, r"c\.tagging\.createTags\(.*groupID"),),
    ),
    "ec2.AuthorizeSecurityGroupIngress": Locator(
        "AuthorizeSecurityGroupIngress (ELB group, node groups)", _call("ec2", "AuthorizeSecurityGroupIngress", AWS_GO)
    ),
    "ec2.RevokeSecurityGroupIngress": Locator(
        "RevokeSecurityGroupIngress (ELB group, node groups)", _call("ec2", "RevokeSecurityGroupIngress", AWS_GO)
    ),
    "ec2.DeleteSecurityGroup": Locator(
        "DeleteSecurityGroup (the ELB's group, on delete)", _call("ec2", "DeleteSecurityGroup", AWS_GO)
    ),
    # classic ELB
    "elb.DescribeLoadBalancers": Locator(
        "classic DescribeLoadBalancers", _call("elb", "DescribeLoadBalancers", AWS_GO)
    ),
    "elb.CreateLoadBalancer": Locator("classic CreateLoadBalancer", _call("elb", "CreateLoadBalancer", LB_GO)),
    "elb-create-tags": Locator(
        "classic CreateLoadBalancer carries the load balancer's tags",
        ((LB_GO, r"createRequest\.Tags = append\(createRequest\.Tags, &?elb(?:types)?\.Tag\{"),),
    ),
    **{
        f"elb.{method}": Locator(f"classic {method}", _call("elb", method, LB_GO))
        for method in (
            "DetachLoadBalancerFromSubnets",
            "AttachLoadBalancerToSubnets",
            "ApplySecurityGroupsToLoadBalancer",
            "DeleteLoadBalancerListeners",
            "CreateLoadBalancerListeners",
            "DescribeLoadBalancerAttributes",
            "ModifyLoadBalancerAttributes",
            "ConfigureHealthCheck",
            "RegisterInstancesWithLoadBalancer",
            "DeregisterInstancesFromLoadBalancer",
        )
    },
    "elb.DeleteLoadBalancer": Locator("classic DeleteLoadBalancer", _call("elb", "DeleteLoadBalancer", AWS_GO)),
    # NLB (ELBv2)
    "elbv2.DescribeLoadBalancers": Locator(
        "ELBv2 DescribeLoadBalancers", _call("elbv2", "DescribeLoadBalancers", AWS_GO, LB_GO)
    ),
    "elbv2.CreateLoadBalancer": Locator("NLB CreateLoadBalancer", _call("elbv2", "CreateLoadBalancer", LB_GO)),
    "elbv2-create-tags": Locator(
        "NLB CreateLoadBalancer carries the load balancer's tags",
        ((LB_GO, r"createRequest\.Tags = append\(createRequest\.Tags, &?elbv2(?:types)?\.Tag\{"),),
    ),
    "elbv2.CreateTargetGroup": Locator("CreateTargetGroup", _call("elbv2", "CreateTargetGroup", LB_GO)),
    "tg-tags-on-create": Locator(
        "CreateTargetGroup carries the target group's tags", ((LB_GO, r"input\.Tags = targetGroupTags"),)
    ),
    "elbv2.AddTags": Locator("standalone AddTags on the new target group", _call("elbv2", "AddTags", LB_GO)),
    "elbv2.CreateListener": Locator("CreateListener", _call("elbv2", "CreateListener", LB_GO)),
    "listener-tags-on-create": Locator(
        "CreateListener carries the listener's tags", ((LB_GO, r"^\s*Tags:\s+elbTags,"),)
    ),
    **{
        f"elbv2.{method}": Locator(f"ELBv2 {method}", _call("elbv2", method, LB_GO))
        for method in (
            "DescribeListeners",
            "DescribeTargetHealth",
            "RegisterTargets",
            "DeregisterTargets",
            "ModifyTargetGroup",
            "ModifyListener",
            "DeleteListener",
            "DescribeLoadBalancerAttributes",
            "ModifyLoadBalancerAttributes",
        )
    },
    "elbv2.DescribeTargetGroups": Locator(
        "ELBv2 DescribeTargetGroups", _call("elbv2", "DescribeTargetGroups", LB_GO, AWS_GO)
    ),
    "elbv2.DeleteTargetGroup": Locator("ELBv2 DeleteTargetGroup", _call("elbv2", "DeleteTargetGroup", LB_GO, AWS_GO)),
    "elbv2.DeleteLoadBalancer": Locator("ELBv2 DeleteLoadBalancer", _call("elbv2", "DeleteLoadBalancer", AWS_GO)),
}

API_CALL = re.compile(r"\b(?:c|z\.cloud|t|s)\.(ec2|elb|elbv2|kms|sts|asg|autoscaling)\.([A-Z][A-Za-z]+)\(")


def _git(git_dir: Path, *args: str) -> str | None:
    completed = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False, timeout=120
    )
    return completed.stdout if completed.returncode == 0 else None


def _provider_files(git_dir: Path, tag: str) -> list[str]:
    listing = _git(git_dir, "ls-tree", "-r", "--name-only", tag, "--", PROVIDER) or ""
    return [
        path
        for path in listing.splitlines()
        if path.endswith(".go") and not path.endswith("_test.go") and "fake" not in path and "mock" not in path
    ]


def locate(git_dir: Path, tag: str) -> dict[str, object]:
    """One tag: its commit, every locator's file:line list, and the provider's AWS SDK calls."""
    files: dict[str, list[str]] = {}

    def lines_of(path: str) -> list[str]:
        if path not in files:
            files[path] = (_git(git_dir, "show", f"{tag}:{path}") or "").splitlines()
        return files[path]

    located: dict[str, list[str]] = {}
    for key, locator in LOCATORS.items():
        found: list[str] = []
        for path, pattern in locator.searches:
            regex = re.compile(pattern)
            found += [
                f"{path.removeprefix(PROVIDER + '/')}:{number}"
                for number, line in enumerate(lines_of(path), start=1)
                if regex.search(line)
            ]
        located[key] = found
    calls = sorted(
        {
            f"{client}.{method}"
            for path in _provider_files(git_dir, tag)
            if "/iface/" not in path
            for line in lines_of(path)
            for client, method in API_CALL.findall(line)
        }
    )
    commit = (_git(git_dir, "rev-list", "-n", "1", tag) or "").strip()
    return {"commit": commit, "locators": located, "apiCalls": calls}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.iam_check.upstream", description=__doc__.split("\n")[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="a clone (or bare mirror) of " + REPOSITORY)
    parser.add_argument("--out", type=Path, default=SOURCES_JSON)
    args = parser.parse_args(argv)
    tags = [release.ccm_tag for release in RELEASES]
    located = {tag: locate(args.git_dir, tag) for tag in tags}
    document = {
        "repository": REPOSITORY,
        "generatedBy": "python -m tools.iam_check.upstream --git-dir <clone of kubernetes/cloud-provider-aws>",
        "locators": {key: locator.what for key, locator in LOCATORS.items()},
        "tags": located,
    }
    missing = [tag for tag, entry in located.items() if not entry["commit"]]
    if missing:
        print(f"tags not in {args.git_dir}: {missing}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(tags)} tags)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
