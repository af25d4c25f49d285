"""AWS node rules: IMDSv2, instance profile, encrypted volumes, user data hygiene, Ubuntu."""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, Severity

from policies.base import EBS_VOLUME, INSTANCE, NODE_TYPES, resource_policy
from policies.props import UNKNOWN, as_list, dig, is_unknown, number, plain, text, truth
from policies.userdata import kubelet_flags, private_key_markers, user_data, uses_apt

MAX_HOP_LIMIT: Final = 2
DEFAULT_HOP_LIMIT: Final = 1.0  # EC2's default when metadata options leave it unset


def imds_hop_limit(props: dict[str, Any]) -> Any:
    """The IMDS PUT response hop limit: a number, UNKNOWN, or EC2's default 1 when unset."""
    value = dig(props, "metadataOptions", "httpPutResponseHopLimit")
    if is_unknown(value):
        return UNKNOWN
    return number(value) or DEFAULT_HOP_LIMIT


def validate_imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in NODE_TYPES:
        return
    props = plain(args.props)
    options = props.get("metadataOptions")
    if is_unknown(options) or dig(props, "metadataOptions", "httpEndpoint") == "disabled":
        return
    tokens = dig(props, "metadataOptions", "httpTokens")
    if not is_unknown(tokens) and tokens != "required":
        report(
            f"'{args.name}' allows IMDSv1 (http_tokens={tokens or 'unset (optional)'}): set metadata_options "
            "http_tokens='required' so no SSRF can read the instance role's credentials.",
            None,
        )
    hop_limit = imds_hop_limit(props)
    if not is_unknown(hop_limit) and hop_limit > MAX_HOP_LIMIT:
        report(
            f"'{args.name}' has IMDS hop limit {hop_limit:g}: set http_put_response_hop_limit to 1 (2 only for "
            "pods that need IMDS), so containers cannot reach the instance role.",
            None,
        )


def validate_instance_profile(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in NODE_TYPES:
        return
    profile = plain(args.props).get("iamInstanceProfile")
    if isinstance(profile, dict):  # launch template: {arn, name}
        values = [profile.get("arn"), profile.get("name")]
        if any(is_unknown(value) or text(value) for value in values):
            return
    elif is_unknown(profile) or text(profile):
        return
    report(
        f"'{args.name}' has no IAM instance profile: the CCM and the node bootstrap call AWS APIs with the "
        "instance role; set iam_instance_profile (components/identity.py).",
        None,
    )


def _unencrypted_volumes(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Names of volumes whose encryption is known to be off or unset."""
    if resource_type == EBS_VOLUME:
        return ["volume"] if truth(props.get("encrypted")) is False else []
    if resource_type == INSTANCE:
        volumes = [("root volume", props.get("rootBlockDevice"))] + [
            (f"EBS volume {dig(device, 'deviceName') or index}", device)
            for index, device in enumerate(as_list(props.get("ebsBlockDevices")))
        ]
        return [name for name, device in volumes if not is_unknown(device) and truth(dig(device, "encrypted")) is False]
    mappings = props.get("blockDeviceMappings")
    if is_unknown(mappings):
        return []
    volumes = [
        (f"EBS volume {dig(m, 'deviceName') or index}", dig(m, "ebs")) for index, m in enumerate(as_list(mappings))
    ]
    found = [name for name, ebs in volumes if ebs is not None and truth(dig(ebs, "encrypted")) is False]
    return found or (["root volume (no block device mapping)"] if not volumes else [])


def validate_encrypted_volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (*NODE_TYPES, EBS_VOLUME):
        return
    for volume in _unencrypted_volumes(args.resource_type, plain(args.props)):
        report(
            f"'{args.name}': {volume} is not encrypted: set encrypted=True (root_block_device / ebs), "
            "node disks hold etcd data and the cluster's keys.",
            None,
        )


def validate_no_private_key_in_user_data(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in NODE_TYPES:
        return
    data = user_data(args.resource_type, plain(args.props))
    if isinstance(data, str) and (markers := private_key_markers(data)):
        report(
            f"'{args.name}' carries private key material in its user data ({', '.join(markers)}); user data is "
            "readable with ec2:DescribeInstanceAttribute and from IMDS. Store keys as SSM SecureString "
            "parameters and fetch them at boot (components/pki.py).",
            None,
        )


def validate_ubuntu(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in NODE_TYPES:
        return
    data = user_data(args.resource_type, plain(args.props))
    if isinstance(data, str) and kubelet_flags(data).configures_kubelet and not uses_apt(data):
        report(
            f"'{args.name}' boots a Kubernetes node without an apt-based (Ubuntu) bootstrap: the renderers, "
            "cgroup choices and the CI are made for Canonical's Ubuntu images.",
            None,
        )


POLICIES: Final = [
    resource_policy(
        "imdsv2-required",
        "Instances and launch templates require IMDSv2 with a hop limit of at most 2.",
        validate_imdsv2,
        severity=Severity.HIGH,
        remediation="metadata_options: http_tokens='required', http_put_response_hop_limit=1 (hostNetwork CCM).",
    ),
    resource_policy(
        "instance-profile-required",
        "Instances and launch templates have an IAM instance profile.",
        validate_instance_profile,
        severity=Severity.HIGH,
        remediation="Set iam_instance_profile to the node role's profile from ClusterIdentity.",
    ),
    resource_policy(
        "encrypted-volumes",
        "Root and EBS volumes of nodes are encrypted.",
        validate_encrypted_volumes,
        severity=Severity.HIGH,
        remediation="Set encrypted=True on root_block_device and every EBS block device.",
    ),
    resource_policy(
        "no-private-key-in-user-data",
        "User data contains no private key material.",
        validate_no_private_key_in_user_data,
        severity=Severity.CRITICAL,
        remediation="Put private keys into SSM SecureString parameters; the node reads them with its role at boot.",
    ),
    resource_policy(
        "nodes-use-ubuntu",
        "Kubernetes nodes boot Canonical's Ubuntu (advisory: the pack sees only the AMI ID).",
        validate_ubuntu,
        severity=Severity.LOW,
        enforcement=EnforcementLevel.ADVISORY,
        remediation="Use components/ami.py ubuntu_ami_id() and the cloud-init renderers of components/render.",
    ),
]
