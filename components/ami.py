"""Canonical's Ubuntu AMI for a release row and architecture."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.settings import Architecture

CANONICAL_OWNER_ID = "099720109477"

# Ubuntu release -> (codename, image family); noble publishes gp3-rooted images only.
UBUNTU_IMAGES: dict[str, tuple[str, str]] = {
    "20.04": ("focal", "hvm-ssd"),
    "22.04": ("jammy", "hvm-ssd"),
    "24.04": ("noble", "hvm-ssd-gp3"),
}
EC2_ARCHITECTURE = {Architecture.AMD64: "x86_64", Architecture.ARM64: "arm64"}


def ubuntu_ami_name_pattern(ubuntu_release: str, architecture: Architecture) -> str:
    codename, family = UBUNTU_IMAGES[ubuntu_release]
    return f"ubuntu/images/{family}/ubuntu-{codename}-{ubuntu_release}-{architecture.value}-server-*"


def ubuntu_ami_id(
    ubuntu_release: str, architecture: Architecture, parent: pulumi.Resource | None = None
) -> pulumi.Output[str]:
    """The newest matching AMI at the time of the first deployment.

    Instances ignore later changes of `ami`, so a newly published image never replaces a
    running node; pin `amiId` in the stack to choose one explicitly.
    """
    return aws.ec2.get_ami_output(
        owners=[CANONICAL_OWNER_ID],
        most_recent=True,
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[ubuntu_ami_name_pattern(ubuntu_release, architecture)]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=[EC2_ARCHITECTURE[architecture]]),
            aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
            aws.ec2.GetAmiFilterArgs(name="root-device-type", values=["ebs"]),
        ],
        opts=pulumi.InvokeOutputOptions(parent=parent),
    ).id
