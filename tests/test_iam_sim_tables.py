"""The CCM call tables (tools/iam_check/ccm_calls.py) against the research on
kubernetes/cloud-provider-aws and the per-tag locations in tools/iam_check/ccm_sources.json.

The research read v1.21.3, v1.22.8, v1.23.20, v1.24.19 and v1.35.2 line by line; the file:line
values pinned here are its citations, so a locator that drifts to other code fails. For the tags
in between, the provider's set of AWS SDK calls is compared with its neighbour's: only the
differences documented in ccm_calls.py may appear.
"""

from __future__ import annotations

import pytest

from components.versions import RELEASES, Release, release_for
from tools.iam_check.ccm_calls import CALLS, Flow, Tags, Target, release_calls, sources
from tools.iam_check.upstream import LOCATORS

RESEARCHED = ("v1.21.3", "v1.22.8", "v1.23.20", "v1.24.19", "v1.35.2")
RESEARCH_COMMITS = {
    "v1.21.3": "d1cebb89",
    "v1.22.8": "d7756a9f",
    "v1.23.20": "09a48d65",
    "v1.24.19": "1e7ae5b8",
    "v1.35.2": "1c494fbc",
}
# (tag, locator) -> the research's file:line for it (pkg/providers/v1/...).
RESEARCH_LINES: dict[tuple[str, str], list[str]] = {
    ("v1.21.3", "ec2.CreateSecurityGroup"): ["aws.go:3482"],
    ("v1.21.3", "sg-separate-create-tags"): ["aws.go:3506"],
    ("v1.21.3", "tags.createTags"): ["tags.go:231"],
    ("v1.21.3", "sg-read-repair"): ["aws.go:3467"],
    ("v1.21.3", "elb.CreateLoadBalancer"): ["aws_loadbalancer.go:974"],
    ("v1.21.3", "elbv2.CreateLoadBalancer"): ["aws_loadbalancer.go:179"],
    ("v1.21.3", "elbv2.CreateTargetGroup"): ["aws_loadbalancer.go:589"],
    ("v1.21.3", "elbv2.AddTags"): ["aws_loadbalancer.go:605"],
    ("v1.21.3", "elbv2.CreateListener"): ["aws_loadbalancer.go:544"],
    ("v1.21.3", "elb.DeleteLoadBalancer"): ["aws.go:4775"],
    ("v1.21.3", "ec2.DeleteSecurityGroup"): ["aws.go:4842"],
    ("v1.21.3", "elb.DescribeLoadBalancers"): ["aws.go:3052"],
    ("v1.22.8", "ec2.CreateSecurityGroup"): ["aws.go:3618"],
    ("v1.22.8", "sg-separate-create-tags"): ["aws.go:3642"],
    ("v1.22.8", "tags.createTags"): ["tags.go:228"],
    ("v1.22.8", "sg-read-repair"): ["aws.go:3603"],
    ("v1.22.8", "elb.CreateLoadBalancer"): ["aws_loadbalancer.go:1012"],
    ("v1.22.8", "elbv2.CreateTargetGroup"): ["aws_loadbalancer.go:595"],
    ("v1.22.8", "elbv2.AddTags"): ["aws_loadbalancer.go:611"],
    ("v1.22.8", "elbv2.CreateListener"): ["aws_loadbalancer.go:549"],
    ("v1.22.8", "ec2.DeleteSecurityGroup"): ["aws.go:4981"],
    ("v1.23.20", "ec2.CreateSecurityGroup"): ["aws.go:3469"],
    ("v1.23.20", "sg-read-repair"): ["aws.go:3439"],
    ("v1.23.20", "elb.CreateLoadBalancer"): ["aws_loadbalancer.go:1009"],
    ("v1.23.20", "elbv2.CreateTargetGroup"): ["aws_loadbalancer.go:613"],
    ("v1.23.20", "tg-tags-on-create"): ["aws_loadbalancer.go:611"],
    ("v1.23.20", "elbv2.CreateListener"): ["aws_loadbalancer.go:558"],
    ("v1.23.20", "listener-tags-on-create"): ["aws_loadbalancer.go:544"],
    ("v1.23.20", "elbv2.DeleteLoadBalancer"): ["aws.go:4722"],
    ("v1.23.20", "ec2.DeleteSecurityGroup"): ["aws.go:4833"],
    ("v1.24.19", "ec2.CreateSecurityGroup"): ["aws.go:3465"],
    ("v1.24.19", "sg-read-repair"): ["aws.go:3435"],
    ("v1.24.19", "elb.CreateLoadBalancer"): ["aws_loadbalancer.go:1013"],
    ("v1.24.19", "elbv2.CreateTargetGroup"): ["aws_loadbalancer.go:613"],
    ("v1.24.19", "elbv2.CreateListener"): ["aws_loadbalancer.go:558"],
    ("v1.35.2", "ec2.CreateSecurityGroup"): ["aws.go:1591"],
    ("v1.35.2", "sg-tag-specifications"): ["aws.go:1584"],
    ("v1.35.2", "sg-read-repair"): ["aws.go:1561"],
    ("v1.35.2", "tags.createTags"): ["tags.go:263"],
    ("v1.35.2", "elb.CreateLoadBalancer"): ["aws_loadbalancer.go:1196"],
    ("v1.35.2", "elbv2.CreateLoadBalancer"): ["aws_loadbalancer.go:202"],
    ("v1.35.2", "elbv2.CreateTargetGroup"): ["aws_loadbalancer.go:786"],
    ("v1.35.2", "tg-tags-on-create"): ["aws_loadbalancer.go:784"],
    ("v1.35.2", "elbv2.CreateListener"): ["aws_loadbalancer.go:731"],
    ("v1.35.2", "listener-tags-on-create"): ["aws_loadbalancer.go:717"],
    ("v1.35.2", "elb.DeleteLoadBalancer"): ["aws.go:3342"],
    ("v1.35.2", "ec2.DeleteSecurityGroup"): ["aws.go:3081"],
    ("v1.35.2", "lb-subnet-zone-types"): ["aws.go:1755"],
    ("v1.35.2", "ec2.DescribeAvailabilityZones"): ["zones.go:112"],
    ("v1.35.2", "zone-id-label"): ["instances_v2.go:77"],
}
# How each researched release tags what the CCM creates (research §0 (a), (b), (d)).
TAGGING = {
    "v1.21.3": {
        "sg-tag-specifications": False,
        "sg-separate-create-tags": True,
        "tg-tags-on-create": False,
        "elbv2.AddTags": True,
        "listener-tags-on-create": False,
    },
    "v1.22.8": {
        "sg-tag-specifications": False,
        "sg-separate-create-tags": True,
        "tg-tags-on-create": False,
        "elbv2.AddTags": True,
        "listener-tags-on-create": False,
    },
    "v1.23.20": {
        "sg-tag-specifications": True,
        "sg-separate-create-tags": False,
        "tg-tags-on-create": True,
        "elbv2.AddTags": False,
        "listener-tags-on-create": True,
    },
    "v1.24.19": {
        "sg-tag-specifications": True,
        "sg-separate-create-tags": False,
        "tg-tags-on-create": True,
        "elbv2.AddTags": False,
        "listener-tags-on-create": True,
    },
    "v1.35.2": {
        "sg-tag-specifications": True,
        "sg-separate-create-tags": False,
        "tg-tags-on-create": True,
        "elbv2.AddTags": False,
        "listener-tags-on-create": True,
    },
}
# Differences of the provider's AWS SDK calls from the previous matrix tag (ccm_calls.py docstring).
API_CHANGES: dict[str, tuple[set[str], set[str]]] = {
    "v1.23.20": (set(), {"elbv2.AddTags"}),
    "v1.26.14": ({"ec2.DescribeAvailabilityZones"}, set()),
    "v1.30.10": ({"ec2.DescribeInstanceTopology"}, set()),
    "v1.31.9": (
        set(),
        {
            "ec2.AttachVolume",
            "ec2.CreateVolume",
            "ec2.DeleteVolume",
            "ec2.DescribeVolumes",
            "ec2.DescribeVolumesModifications",
            "ec2.DetachVolume",
            "ec2.ModifyVolume",
        },
    ),
    "v1.32.8": ({"elbv2.DescribeTargetGroupAttributes", "elbv2.ModifyTargetGroupAttributes"}, set()),
}
TAGS = [release.ccm_tag for release in RELEASES]


def located(tag: str, key: str) -> list[str]:
    return list(sources()["tags"][tag]["locators"][key])


def test_every_matrix_tag_has_its_locations_and_commit() -> None:
    assert sorted(sources()["tags"]) == sorted(TAGS), "run python -m tools.iam_check.upstream"
    for tag, prefix in RESEARCH_COMMITS.items():
        assert sources()["tags"][tag]["commit"].startswith(prefix)
    assert set(sources()["locators"]) == set(LOCATORS)


@pytest.mark.parametrize(("tag", "key"), sorted(RESEARCH_LINES))
def test_the_locators_find_the_lines_the_research_cites(tag: str, key: str) -> None:
    assert located(tag, key) == RESEARCH_LINES[(tag, key)]


@pytest.mark.parametrize("tag", sorted(TAGGING))
def test_the_researched_releases_tag_as_the_research_says(tag: str) -> None:
    assert {key: bool(located(tag, key)) for key in TAGGING[tag]} == TAGGING[tag]


@pytest.mark.parametrize("index", range(1, len(TAGS)))
def test_between_researched_releases_only_the_documented_calls_change(index: int) -> None:
    previous, tag = TAGS[index - 1], TAGS[index]
    before = set(sources()["tags"][previous]["apiCalls"])
    after = set(sources()["tags"][tag]["apiCalls"])
    assert (after - before, before - after) == API_CHANGES.get(tag, (set(), set()))


def test_every_row_cites_known_locators() -> None:
    for call in CALLS:
        assert call.locators, call
        assert set(call.locators) | set(call.requires) | set(call.unless) <= set(LOCATORS), call


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.minor)
def test_every_release_table_builds_with_a_citation_per_row(release: Release) -> None:
    rows = release_calls(release)
    assert rows and all(row.lines and row.tag == release.ccm_tag for row in rows)
    flows = {row.call.flow for row in rows}
    assert flows == set(Flow)


def _rows(minor: str) -> list[tuple[Flow, str, Target, Tags, str | None]]:
    return [
        (r.call.flow, r.call.action, r.call.target, r.call.tags, r.call.create_action)
        for r in release_calls(release_for(minor))
    ]


def test_before_1_23_the_new_security_group_is_tagged_by_a_standalone_create_tags() -> None:
    for minor in ("1.21", "1.22"):
        rows = _rows(minor)
        assert (Flow.CLB_ENSURE, "ec2:CreateSecurityGroup", Target.ELB_SG_NEW, Tags.NONE, None) in rows
        assert (Flow.CLB_ENSURE, "ec2:CreateTags", Target.ELB_SG_UNTAGGED, Tags.SG, None) in rows
        assert (Flow.NLB_ENSURE, "elasticloadbalancing:AddTags", Target.TG_UNTAGGED, Tags.LB, None) in rows
        assert not [row for row in rows if row[4] in ("CreateSecurityGroup", "CreateTargetGroup", "CreateListener")]


def test_from_1_23_tags_ride_on_the_create_calls() -> None:
    for release in RELEASES:
        if not release.at_least("1.23"):
            continue
        rows = _rows(release.minor)
        assert (Flow.CLB_ENSURE, "ec2:CreateTags", Target.ELB_SG_NEW, Tags.SG, "CreateSecurityGroup") in rows
        assert (Flow.NLB_ENSURE, "elasticloadbalancing:AddTags", Target.TG_NEW, Tags.LB, "CreateTargetGroup") in rows
        assert (Flow.NLB_ENSURE, "elasticloadbalancing:AddTags", Target.LISTENER_NEW, Tags.LB, "CreateListener") in rows
        assert (Flow.CLB_ENSURE, "ec2:CreateTags", Target.ELB_SG_UNTAGGED, Tags.SG, None) not in rows


def test_every_release_repairs_an_existing_group_with_a_standalone_create_tags() -> None:
    for release in RELEASES:
        assert (Flow.CLB_ENSURE, "ec2:CreateTags", Target.ELB_SG_UNTAGGED, Tags.REPAIR, None) in _rows(release.minor)


def test_describe_availability_zones_from_v1_26_14_and_the_zone_id_label_from_v1_30() -> None:
    for release in RELEASES:
        rows = _rows(release.minor)
        lb = (Flow.CLB_ENSURE, "ec2:DescribeAvailabilityZones", Target.ANY, Tags.NONE, None) in rows
        node = (Flow.NODE_INIT, "ec2:DescribeAvailabilityZones", Target.ANY, Tags.NONE, None) in rows
        assert lb == release.at_least("1.26"), release.minor
        assert node == release.at_least("1.30"), release.minor
