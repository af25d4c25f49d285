"""AWS-managed policy documents, from moto's bundled copy (`moto/iam/aws_managed_policies.py`).

An independent source: moto ships the documents AWS published, so an attachment of
`arn:aws:iam::aws:policy/<path><name>` is simulated with what AWS grants, not with what we think
it grants. A managed policy moto does not know is an error, never an empty policy.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from tools.iam_check.model import PolicyDocument

AWS_MANAGED_ACCOUNT = "aws"


class UnknownManagedPolicy(KeyError):
    """An attached policy ARN that is neither in the render nor an AWS-managed policy moto knows."""


@functools.cache
def _catalogue() -> dict[str, Any]:
    # moto is a validation/test dependency (requirements-dev.txt); imported only when needed.
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415

    catalogue = json.loads(aws_managed_policies_data)
    if not isinstance(catalogue, dict):
        raise TypeError("moto's aws_managed_policies_data is not a JSON object")
    return catalogue


def managed_policy_document(arn: str) -> PolicyDocument:
    """The default version's document of an AWS-managed policy ARN (any partition)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or parts[4] != AWS_MANAGED_ACCOUNT or not parts[5].startswith("policy/"):
        raise UnknownManagedPolicy(f"{arn}: not an AWS-managed policy ARN and not a policy of the render")
    path_and_name = parts[5].removeprefix("policy")
    path, name = path_and_name.rsplit("/", 1)
    entry = _catalogue().get(name)
    if entry is None or entry.get("Path", "/") != f"{path}/":
        raise UnknownManagedPolicy(f"{arn}: moto's copy of the AWS-managed policies has no such policy")
    document = entry["Document"]
    if not isinstance(document, dict):
        raise UnknownManagedPolicy(f"{arn}: moto's document is not a JSON object")
    return document
