"""Offline render: run the real program against the mock engine and write what it would create.

    python -m tools.render --stack dev [--out build/render] [--preview]
    python -m tools.render --all

writes `<out>/<stack>/`: resources.json, graph.dot, userdata/<instance>.yaml (the decoded
cloud-config) and userdata/sizes.json (the bytes EC2 receives of each), exports.json,
pki/<cert>.crt (certificates only, never keys), artifacts.json (what the stack pulls). Every file
is sorted and deterministic: two renders of the same config are byte-identical. Writers are plain functions
`(graph, directory) -> written paths` listed in `WRITERS`; add new outputs there.
"""

from __future__ import annotations

import argparse
import binascii
import shutil
import sys
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.render.user_data_encoding import (
    EC2_USER_DATA_LIMIT_BYTES,
    GZIP_MAGIC,
    decode_user_data,
    received_bytes,
)
from components.settings import ConfigError, parse_settings
from tools.artifacts import stack_document, summary_lines, write_artifacts
from tools.manifests import write_cloud_config, write_manifests
from tools.offline.capture import Graph, ResourceRecord, is_secret, is_unknown
from tools.offline.engine import run_program
from tools.offline.stackfiles import REPO_ROOT, StackFileError, list_stacks, stack_config
from tools.output import safe_file_name, write_json, write_text
from tools.policy_report import PolicyGateError, check_gate, write_policy_report

DEFAULT_OUT = REPO_ROOT / "build" / "render"
USERDATA_TYPES = ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate")
CERT_TYPES = ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert")
PLACEHOLDER_NOTE = (
    "AWS-assigned values (IDs, IPv6 blocks, IPs, AMI) are placeholders from the mock engine; "
    "certificates and keys are real (made with cryptography, deterministic, not secret)."
)

Writer = Callable[[Graph, Path], list[Path]]


# -- writers ------------------------------------------------------------------------------


def resource_document(record: ResourceRecord) -> dict[str, Any]:
    return {
        "urn": record.urn,
        "type": record.type,
        "name": record.name,
        "custom": record.custom,
        "parent": record.parent,
        "provider": record.provider_urn,
        "dependencies": list(record.dependencies),
        "propertyDependencies": {key: list(urns) for key, urns in record.property_dependencies.items()},
        "options": {
            "protect": record.protect,
            "ignoreChanges": sorted(record.ignore_changes),
            "replaceOnChanges": sorted(record.replace_on_changes),
            "deleteBeforeReplace": record.delete_before_replace,
            "additionalSecretOutputs": sorted(record.additional_secret_outputs),
            "retainOnDelete": record.retain_on_delete,
            "deletedWith": record.deleted_with,
        },
        "inputs": record.inputs,
    }


def write_resources(graph: Graph, directory: Path) -> list[Path]:
    documents = [resource_document(record) for record in graph.resources]
    return [write_json(directory / "resources.json", documents)]


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_id(text: str) -> str:
    return f'"{_dot_escape(text)}"'


def graph_dot(graph: Graph) -> str:
    """Parent edges (dashed, parent -> child) and dependency edges (solid, dependent -> dependency)."""
    lines = ["digraph resources {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    records = ([graph.stack] if graph.stack else []) + graph.resources
    for record in records:
        label = f"{_dot_escape(record.type)}\\n{_dot_escape(record.name)}"  # \n: a line break in DOT
        lines.append(f'  {_dot_id(record.urn)} [label="{label}"];')
    edges: set[str] = set()
    for record in graph.resources:
        if record.parent:
            edges.add(f"  {_dot_id(record.parent)} -> {_dot_id(record.urn)} [style=dashed, arrowhead=none];")
        targets = set(record.dependencies).union(*record.property_dependencies.values())
        edges.update(f"  {_dot_id(record.urn)} -> {_dot_id(target)};" for target in targets)
    return "\n".join([*lines, *sorted(edges), "}"]) + "\n"


def write_graph_dot(graph: Graph, directory: Path) -> list[Path]:
    return [write_text(directory / "graph.dot", graph_dot(graph))]


@dataclass(frozen=True)
class UserData:
    """A node's user data as cloud-init reads it, and the bytes EC2 receives and counts."""

    text: str
    received_bytes: int
    encoding: str
    """`text`, `base64` or `gzip+base64`: how the program hands it to the provider."""


def user_data_of(record: ResourceRecord) -> UserData | None:
    """The decoded user data of an instance or launch template; None when unset, unknown or secret."""
    raw = record.inputs.get("userData")
    encoded = record.type == "aws:ec2/launchTemplate:LaunchTemplate"
    if raw is None and "userDataBase64" in record.inputs:
        raw, encoded = record.inputs["userDataBase64"], True
    if raw is None or is_unknown(raw) or is_secret(raw):
        return None
    if not encoded:
        return UserData(str(raw), len(str(raw).encode()), "text")
    try:
        received = received_bytes(str(raw))
        text = decode_user_data(str(raw))
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
        return UserData(str(raw), len(str(raw).encode()), "text")  # not base64: shown as it is
    return UserData(text, len(received), "gzip+base64" if received.startswith(GZIP_MAGIC) else "base64")


def user_data_text(record: ResourceRecord) -> str | None:
    """The decoded user data of an instance or launch template; None when unset or unknown."""
    raw = record.inputs.get("userData", record.inputs.get("userDataBase64"))
    if raw is not None and is_secret(raw) and not is_unknown(raw["value"]):
        # User data is readable by anyone with ec2:DescribeInstanceAttribute: never print a secret.
        return "# [secret] user data is a Pulumi secret and is not rendered\n"
    found = user_data_of(record)
    return found.text if found else None


def userdata_sizes(graph: Graph) -> dict[str, dict[str, Any]]:
    """Per node: the bytes EC2 receives against its limit, and the cloud-config cloud-init reads."""
    sizes = {}
    for record in graph.resources:
        found = user_data_of(record) if record.type in USERDATA_TYPES else None
        if found is not None:
            sizes[record.name] = {
                "receivedBytes": found.received_bytes,
                "limitBytes": EC2_USER_DATA_LIMIT_BYTES,
                "headroomPercent": round(100 * (1 - found.received_bytes / EC2_USER_DATA_LIMIT_BYTES), 1),
                "cloudConfigBytes": len(found.text.encode()),
                "encoding": found.encoding,
            }
    return sizes


def write_userdata(graph: Graph, directory: Path) -> list[Path]:
    """`userdata/<node>.yaml`, the decoded cloud-config for review (and the validators), and
    `userdata/sizes.json`, what EC2 receives of each."""
    written = []
    for record in graph.resources:
        if record.type in USERDATA_TYPES:
            text = user_data_text(record)
            if text is not None:
                written.append(write_text(directory / "userdata" / f"{safe_file_name(record.name)}.yaml", text))
    sizes = userdata_sizes(graph)
    if sizes:
        written.append(write_json(directory / "userdata" / "sizes.json", sizes))
    return written


def write_exports(graph: Graph, directory: Path) -> list[Path]:
    return [write_json(directory / "exports.json", graph.exports)]


def write_pki(graph: Graph, directory: Path) -> list[Path]:
    """Every known certificate (`certPem` outputs); keys are never written."""
    written = []
    for record in graph.resources:
        cert = record.state.get("certPem")
        if record.type in CERT_TYPES and isinstance(cert, str) and not is_unknown(cert):
            written.append(write_text(directory / "pki" / f"{safe_file_name(record.name)}.crt", cert))
    return written


WRITERS: list[Writer] = [
    write_resources,
    write_graph_dot,
    write_userdata,
    write_exports,
    write_pki,
    write_manifests,
    write_cloud_config,
    write_artifacts,
]


def prepare_stack_dir(out: Path, stack: str) -> Path:
    """An empty `<out>/<stack>/`: files of an earlier render must not survive into this one."""
    directory = out / stack
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def write_all(graph: Graph, directory: Path, writers: Sequence[Writer] = tuple(WRITERS)) -> list[Path]:
    return [path for writer in writers for path in writer(graph, directory)]


# -- summary and CLI ----------------------------------------------------------------------


def release_line(stack: str) -> str:
    settings = parse_settings(stack_config(stack), stack)
    release = settings.release
    return (
        f"release: Kubernetes {release.kubernetes_version} | CCM {settings.effective_ccm_image} | "
        f"node-ip {release.node_ip_mode.value} | Ubuntu {release.ubuntu_release} | {release.kubeadm_api.value}"
    )


def summary(graph: Graph, directory: Path, written: Sequence[Path]) -> str:
    counts = Counter(record.type for record in graph.resources)
    mode = "preview" if graph.preview else "up"
    lines = [f"stack {graph.stack_name} ({mode}): {len(graph.resources)} resources -> {directory}"]
    lines += [f"  {count:4d}  {type_token}" for type_token, count in sorted(counts.items())]
    lines.append(f"  {release_line(graph.stack_name)}")
    lines += [f"  {line}" for line in summary_lines(stack_document(graph))]
    sizes = userdata_sizes(graph)
    if sizes:
        received = ", ".join(f"{name} {size['receivedBytes']}" for name, size in sorted(sizes.items()))
        lines.append(f"  user data, bytes EC2 receives (limit {EC2_USER_DATA_LIMIT_BYTES}): {received}")
    lines.append(f"  {len(written)} files written")
    lines.append(f"  {PLACEHOLDER_NOTE}")
    return "\n".join(lines)


def render_stack(
    stack: str,
    out: Path = DEFAULT_OUT,
    preview: bool = False,
    program: Callable[[], None] | None = None,
    *,
    policies: bool = False,
    deployed_version: str | None = None,
) -> tuple[Graph, list[Path]]:
    """Run the program (default: the project's) for `stack` and write every file; errors propagate.

    `policies`: also evaluate the policy pack (policy-report.json/.md) and raise PolicyGateError
    after writing everything when a mandatory policy is violated. `deployed_version`: what the
    stack recorded after its last `up` (an upgrade's plan, or the rules' refusal)."""
    graph = run_program(stack, preview=preview, program=program, deployed_version=deployed_version)
    directory = prepare_stack_dir(out, stack)
    written = write_all(graph, directory, [*WRITERS, write_policy_report] if policies else WRITERS)
    print(summary(graph, directory, written))
    if policies:
        check_gate(directory)
    return graph, written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=(__doc__ or "").split("\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name (Pulumi.<stack>.yaml)")
    target.add_argument("--all", action="store_true", help="render every stack")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--preview", action="store_true", help="preview mode: computed values stay unknown")
    parser.add_argument(
        "--policies",
        action="store_true",
        help="run the policy pack too; fail on a mandatory violation (make render does)",
    )
    parser.add_argument(
        "--deployed-version",
        metavar="VERSION",
        help="the Kubernetes version the stack runs now (e.g. 1.21.14): render the change to the stack's "
        "version as `pulumi preview` would plan it (make render STACK=dev DEPLOYED=1.21.14)",
    )
    args = parser.parse_args(argv)

    stacks = list_stacks() if args.all else [args.stack]
    failed = []
    for stack in stacks:
        try:
            render_stack(stack, args.out, args.preview, policies=args.policies, deployed_version=args.deployed_version)
        except (ConfigError, StackFileError, PolicyGateError) as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            failed.append(stack)
        except Exception:  # report every stack, then fail
            print(f"stack {stack}: render failed", file=sys.stderr)
            traceback.print_exc()
            failed.append(stack)
    if failed:
        print(f"render failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
