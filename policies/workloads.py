"""Finding the AWS cloud-controller-manager and the cluster's Kubernetes version in a stack."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import StackValidationArgs

from policies.base import CONFIG_MAP, DAEMONSET, DEPLOYMENT, NODE_TYPES, POD, StackResource, stack_resources
from policies.facts import Version, parse_version
from policies.props import UNKNOWN, as_dict, as_list, dig, is_unknown, text
from policies.userdata import cluster_version, node_version, user_data

WORKLOAD_TYPES: Final = (DAEMONSET, DEPLOYMENT, POD)
CCM_IMAGE_NAME: Final = "cloud-controller-manager"


def pod_spec(resource_type: str, props: dict[str, Any]) -> Any:
    return dig(props, "spec") if resource_type == POD else dig(props, "spec", "template", "spec")


def namespace_of(props: dict[str, Any]) -> str:
    return text(dig(props, "metadata", "namespace")) or "default"


def command_line(container: dict[str, Any]) -> Any:
    """`command` + `args` as strings; UNKNOWN if any part is unknown."""
    parts = as_list(container.get("command")) + as_list(container.get("args"))
    return UNKNOWN if any(is_unknown(part) for part in parts) else [str(part) for part in parts]


def flag_values(arguments: list[str], flag: str) -> list[str]:
    """Values of `--flag=value` and `--flag value` (the form the flag library also accepts)."""
    values = []
    for index, argument in enumerate(arguments):
        if argument.startswith(f"{flag}="):
            values.append(argument.split("=", 1)[1])
        elif argument == flag and index + 1 < len(arguments):
            values.append(arguments[index + 1])
    return values


def image_tag(image: str) -> str | None:
    """`v1.22.8` of `registry.k8s.io/provider-aws/cloud-controller-manager:v1.22.8[@sha256:...]`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_version(image: str) -> Version | None:
    tag = image_tag(image)
    return parse_version(tag) if tag else None


@dataclass(frozen=True)
class CcmContainer:
    """The AWS CCM container of a workload, with its pod spec."""

    workload: str
    urn: str
    namespace: str
    spec: dict[str, Any]
    container: dict[str, Any]

    @property
    def image(self) -> str | None:
        return text(self.container.get("image"))

    @property
    def arguments(self) -> Any:
        return command_line(self.container)

    @property
    def service_account(self) -> str:
        return text(self.spec.get("serviceAccountName")) or text(self.spec.get("serviceAccount")) or "default"


def _is_aws_ccm(workload: str, container: dict[str, Any]) -> bool:
    image = text(container.get("image")) or ""
    arguments = command_line(container)
    if not is_unknown(arguments) and "aws" in flag_values(arguments, "--cloud-provider"):
        return True
    return CCM_IMAGE_NAME in image and ("aws" in image or "aws" in workload)


def ccm_containers(resource_type: str, name: str, urn: str, props: dict[str, Any]) -> list[CcmContainer]:
    if resource_type not in WORKLOAD_TYPES:
        return []
    spec = pod_spec(resource_type, props)
    workload = text(dig(props, "metadata", "name")) or name
    return [
        CcmContainer(workload, urn, namespace_of(props), spec, container)
        for container in as_list(as_dict(spec).get("containers"))
        if isinstance(container, dict) and _is_aws_ccm(workload, container)
    ]


def stack_ccm_containers(args: StackValidationArgs) -> list[CcmContainer]:
    return [c for r in stack_resources(args, WORKLOAD_TYPES) for c in ccm_containers(r.type, r.name, r.urn, r.props)]


def known_user_data(nodes: Iterable[StackResource]) -> list[tuple[StackResource, str]]:
    found = []
    for node in nodes:
        data = user_data(node.type, node.props)
        if isinstance(data, str):
            found.append((node, data))
    return found


def cluster_versions(args: StackValidationArgs) -> set[Version]:
    """The cluster's Kubernetes versions: kubeadm `kubernetesVersion`, else what the nodes install."""
    data = [content for _, content in known_user_data(stack_resources(args, NODE_TYPES))]
    declared = {version for version in map(cluster_version, data) if version}
    return declared or {version for version in map(node_version, data) if version}


def _mounted_source(ccm: CcmContainer, path: str) -> tuple[str, str] | None:
    """(ConfigMap name, key) that `path` reads, following volumeMounts, subPath and items."""
    volumes = {v.get("name"): v for v in as_list(ccm.spec.get("volumes")) if isinstance(v, dict)}
    for mount in as_list(ccm.container.get("volumeMounts")):
        mount_path = (text(dig(mount, "mountPath")) or "").rstrip("/")
        sub_path = text(dig(mount, "subPath"))
        if not mount_path or not ((path == mount_path and sub_path) or path.startswith(mount_path + "/")):
            continue
        config_map = dig(volumes.get(dig(mount, "name")), "configMap")
        name = text(dig(config_map, "name"))
        if name is None:
            return None
        relative = sub_path or path[len(mount_path) + 1 :]
        keys = [text(dig(item, "key")) for item in as_list(dig(config_map, "items")) if dig(item, "path") == relative]
        return name, keys[0] if keys and keys[0] else relative
    return None


def cloud_config_of(args: StackValidationArgs, ccm: CcmContainer) -> tuple[StackResource, str] | None:
    """The ConfigMap resource and the cloud config text the CCM's `--cloud-config` reads."""
    arguments = ccm.arguments
    paths = [] if is_unknown(arguments) else flag_values(arguments, "--cloud-config")
    source = _mounted_source(ccm, paths[0]) if paths else None
    if source is None:
        return None
    for config_map in stack_resources(args, [CONFIG_MAP]):
        metadata = config_map.props.get("metadata")
        if dig(metadata, "name") == source[0] and namespace_of(config_map.props) == ccm.namespace:
            content = dig(config_map.props, "data", source[1])
            return (config_map, content) if isinstance(content, str) and not is_unknown(content) else None
    return None
