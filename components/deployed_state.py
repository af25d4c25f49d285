"""The Kubernetes version the stack last deployed: read before planning, written after a whole `up`.

An SSM String parameter below the cluster's prefix. The program reads it with a synchronous invoke
before it registers any resource (`read_deployed_version`), so the version rules of
components/version_skew.py can refuse a change before anything is planned; it writes it
(`DeployedVersionRecord`) only after every step of the run that depends on the version — the control
planes' upgrade, the cluster side and the workers' group — succeeded. A failed run leaves the old
value, and the next run plans the same upgrade again (every step is idempotent).

Why a parameter and not the stack's own outputs through a StackReference: a StackReference's outputs
are Outputs, known only once the engine resolved them, and the rules must run before the first
resource is registered; an invoke returns plain values. A stack that has no parameter (a new one,
or one deployed before the program recorded it) is treated as new.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.release_facts import Version
from components.tags import cluster_tags
from components.versions import Release

STATE_PATH = "state"


def deployed_version_parameter(ssm_prefix: str) -> str:
    return f"{ssm_prefix}/{STATE_PATH}/kubernetes-version"


def read_deployed_version(ssm_prefix: str) -> Version | None:
    """The recorded version, None when the stack never recorded one (a missing path is no error)."""
    found = aws.ssm.get_parameters_by_path(path=f"{ssm_prefix}/{STATE_PATH}", recursive=False)
    values = dict(zip(found.names, found.values, strict=True))
    text = values.get(deployed_version_parameter(ssm_prefix))
    return Version.parse(text) if text else None


class DeployedVersionRecord(pulumi.ComponentResource):
    """The parameter `read_deployed_version` reads, written once everything in `after` is done."""

    parameter: aws.ssm.Parameter

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        ssm_prefix: str,
        release: Release,
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("k8sdualstack:state:DeployedVersionRecord", name, None, opts)
        self.parameter = aws.ssm.Parameter(
            name,
            name=deployed_version_parameter(ssm_prefix),
            type="String",
            value=release.kubernetes_version,
            description="Kubernetes version this stack last deployed completely (k8s-dualstack-aws)",
            tags=cluster_tags(cluster_name, name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({"version": self.parameter.value})
