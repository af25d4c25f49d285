"""ControlPlaneUpgrade: the in-place upgrade of the control planes, one node at a time, in the graph.

Registered only when the stack's version is a patch or one minor above the deployed one
(components/version_skew.py). An SSM Command document holds the upgrade script of the new release
(components/render/upgrade.py); one State Manager association per control plane runs it on that
instance — `apply` on the first, `node` on the others — each created only after the previous one
succeeded (`depends_on`), and each create waits until its run succeeded (bounded by
`wait_for_success_timeout_seconds`). A failed run fails its create, so nothing after it (the other
control planes, the CCM, the workers) changes: the cluster stays within the version skew policy.

The resources are named by version: the next upgrade creates new ones (and its run), the run after
an upgrade deletes these (deleting an association stops nothing). The script's output stays on the
node (`/var/log/k8s-upgrade.log`) and in the association's execution history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.render.upgrade import DOCUMENT_TIMEOUT_SECONDS, upgrade_document
from components.settings import Architecture
from components.tags import cluster_tags
from components.versions import Release

# The association's create waits this long for the run to succeed: the document's own limit plus
# the time SSM takes to deliver the run to the agent.
WAIT_FOR_SUCCESS_SECONDS = DOCUMENT_TIMEOUT_SECONDS + 300


@dataclass(frozen=True)
class ControlPlaneUpgradeArgs:
    cluster_name: str
    release: Release
    """The release upgraded to."""
    architecture: Architecture
    instance_ids: Sequence[pulumi.Input[str]]
    """The control-plane instances in upgrade order: the first runs `kubeadm upgrade apply`."""

    def __post_init__(self) -> None:
        if not self.instance_ids:
            raise ValueError("ControlPlaneUpgradeArgs.instance_ids: empty, allowed is one instance or more")


def version_label(release: Release) -> str:
    """`1-23-17`: the version as a name part (SSM names allow no dots in places we use them)."""
    return release.kubernetes_version.replace(".", "-")


class ControlPlaneUpgrade(pulumi.ComponentResource):
    document: aws.ssm.Document
    steps: list[aws.ssm.Association]
    """In order; the last one's success means every control plane runs the new release."""

    def __init__(self, name: str, args: ControlPlaneUpgradeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:upgrade:ControlPlaneUpgrade", name, None, opts)
        label = version_label(args.release)
        self.document = aws.ssm.Document(
            f"{name}-{label}",
            name=f"{args.cluster_name}-upgrade-control-plane-{label}",
            document_type="Command",
            document_format="JSON",
            content=json.dumps(upgrade_document(args.release, args.architecture), indent=2),
            tags=cluster_tags(args.cluster_name, f"{name}-{label}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.steps = []
        for index, instance_id in enumerate(args.instance_ids):
            after = self.steps[-1:]
            self.steps.append(
                aws.ssm.Association(
                    f"{name}-{label}-{index}",
                    association_name=f"{args.cluster_name}-upgrade-{label}-control-plane-{index}",
                    name=self.document.name,
                    targets=[aws.ssm.AssociationTargetArgs(key="InstanceIds", values=[instance_id])],
                    parameters={"mode": "apply" if index == 0 else "node"},
                    max_concurrency="1",
                    max_errors="0",
                    wait_for_success_timeout_seconds=WAIT_FOR_SUCCESS_SECONDS,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after),
                )
            )
        self.register_outputs({})
