"""The real kubeadm judges the program's kubeadm configurations (`kubeadm config validate`).

- every release row (`check_repository`): the init (InitConfiguration, ClusterConfiguration,
  KubeletConfiguration), control-plane join and worker join files the program's renderers write
  for a production-shaped cluster (the `prod` stack's settings with the row's version: three
  control planes behind the NLB);
- every stack (`check`): each kubeadm file in its rendered user data, as the nodes receive it.

Boot-time placeholders get realistic values first (`substitute`). kubeadm 1.28+ runs
`kubeadm config validate` (strict decoding, defaulting, validation); an older kubeadm runs
`kubeadm config migrate --old-config`, which decodes, defaults and validates the same way but only
logs strict-decoding problems, so those log lines count as findings here. Each row is judged by its
own kubeadm when that is built, else by the newest built kubeadm that reads its API; kubeadm init
refuses a control plane more than one minor older than itself, so for such a row the init file's
`kubernetesVersion` is read as that kubeadm's own (said in the notes). Which kubeadm reads which
API, and the sources: docs/reference/kubeadm-validate.md.

    python -m tools.validate.kubeadm [--own-kubeadm] [--minor 1.25 ...]   # the release rows only
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.network_plan import endpoint, fixed_host, plan_subnets
from components.render.bootstrap import (
    BOOTSTRAP_TOKEN,
    NODE_IPV4,
    NODE_IPV6,
    NODE_NAME,
    PLACEHOLDER_VARIABLES,
    ClusterBootstrap,
)
from components.render.kubeadm import (
    render_control_plane_join_configuration,
    render_init_configuration,
    render_join_configuration,
)
from components.settings import StackSettings, parse_settings
from components.tags import SubnetTier
from components.versions import RELEASES, Release
from tools.offline.stackfiles import stack_config
from tools.validate.common import REPOSITORY, Finding, ToolResult, relative, run
from tools.validate.kubeadm_build import CI_VERSIONS, Kubeadm, ensure

TOOL = "kubeadm"
KUBEADM_FILE = "/etc/k8s-bootstrap/kubeadm.yaml.tmpl"
"""Where the user data writes the kubeadm file the boot script substitutes (components/render/cloudinit.py)."""
ROW_STACK = "prod"
"""The stack whose settings every release row is rendered with: the production shape."""
PLACEHOLDER_VALUES: dict[str, str] = {
    NODE_NAME: "ip-10-0-0-10.ec2.internal",
    NODE_IPV4: "10.0.0.10",
    NODE_IPV6: "2600:1f18:1234:5600::10",
    BOOTSTRAP_TOKEN: "abcdef.0123456789abcdef",  # kubeadm's token shape: [a-z0-9]{6}.[a-z0-9]{16}
}
CA_CERT_HASH = "sha256:" + hashlib.sha256(b"stand-in for the cluster CA's public key").hexdigest()
KUBEADM_KINDS = ("InitConfiguration", "ClusterConfiguration", "JoinConfiguration")
EXPECTED_WARNINGS = (
    # kubeadm join reads its kubelet settings from the ConfigMap init uploaded; the join files keep
    # the document so both files state the same kubelet settings (components/render/kubeadm.py).
    re.compile(
        r"Ignored configuration document with GroupVersionKind kubelet\.config\.k8s\.io/\w+, Kind=KubeletConfiguration"
    ),
)
_STRICT_LOG = re.compile(r"(error unmarshaling configuration|unknown configuration|unknown field)", re.IGNORECASE)
_KLOG = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] ")
_KIND_IN_TEXT = re.compile(r'[Kk]ind(?::\s*|=)"?(\w+Configuration)')
_KUBERNETES_VERSION = re.compile(r"^kubernetesVersion: .*$", re.MULTILINE)


@dataclass(frozen=True)
class KubeadmFile:
    """One kubeadm file as a node runs it: placeholders substituted."""

    label: str
    release: Release
    text: str

    @property
    def kinds(self) -> list[str]:
        return [str(doc.get("kind")) for doc in yaml.safe_load_all(self.text) if isinstance(doc, dict)]


def substitute(template: str) -> str:
    """The boot script's envsubst of `PLACEHOLDER_VARIABLES`, with realistic values; anything else left is an error."""
    missing = set(PLACEHOLDER_VARIABLES) - set(PLACEHOLDER_VALUES)
    if missing:
        raise ValueError(f"no stand-in value for boot-time placeholders {sorted(missing)}")
    text = template
    for name, value in PLACEHOLDER_VALUES.items():
        text = text.replace("${" + name + "}", value)
    left = re.findall(r"\$\{\w+\}", text)
    if left:
        raise ValueError(f"placeholders the boot script does not substitute: {sorted(set(left))}")
    return text


def row_settings(release: Release) -> StackSettings:
    return parse_settings(stack_config(ROW_STACK, overrides={"kubernetesVersion": release.minor}), ROW_STACK)


def row_files(release: Release) -> list[KubeadmFile]:
    """The init, control-plane join and worker join files of `release` in the production shape."""
    settings = row_settings(release)
    net = settings.network
    zones = net.availability_zones or tuple(f"{settings.region}{z}" for z in "abcdef"[: net.availability_zone_count])
    plans = plan_subnets(
        settings.cluster_name, net.vpc_ipv4_cidr, net.subnet_ipv4_prefix_length, zones, net.private_subnets
    )
    public = [plan for plan in plans if plan.tier is SubnetTier.PUBLIC][: settings.topology.control_plane_count]
    ipv4s = [fixed_host(plan.ipv4_cidr) for plan in public]
    ipv6s = [f"2600:1f18:1234:56{index:02x}::10" for index in range(len(ipv4s))]
    api_host = f"{settings.cluster_name}-api-0123456789abcdef.elb.{settings.region}.amazonaws.com"
    cluster = ClusterBootstrap(
        release=release,
        cluster_name=settings.cluster_name,
        region=settings.region,
        ip_families=settings.ip_families,
        pod_cidrs=net.pod_cidrs,
        service_cidrs=net.service_cidrs,
        control_plane_endpoint=endpoint(api_host),
        ssm_prefix=settings.ssm_prefix,
        architecture=settings.nodes.architecture,
    )
    label = f"release {release.kubernetes_version}"
    return [
        KubeadmFile(
            f"{label} init", release, substitute(render_init_configuration(cluster, [api_host, *ipv4s, *ipv6s]))
        ),
        KubeadmFile(
            f"{label} join-control-plane",
            release,
            substitute(render_control_plane_join_configuration(cluster, CA_CERT_HASH)),
        ),
        KubeadmFile(f"{label} join", release, substitute(render_join_configuration(cluster, CA_CERT_HASH))),
    ]


def stack_files(stack: str, stack_dir: Path) -> list[KubeadmFile]:
    """The kubeadm file in each node's rendered user data."""
    release = parse_settings(stack_config(stack), stack).release
    found = []
    for user_data in sorted((stack_dir / "userdata").glob("*.yaml")):
        cloud_config = yaml.safe_load(user_data.read_text(encoding="utf-8")) or {}
        for entry in cloud_config.get("write_files") or []:
            if entry.get("path") == KUBEADM_FILE:
                found.append(KubeadmFile(relative(user_data), release, substitute(str(entry["content"]))))
    return found


def choose(release: Release, kubeadms: Sequence[Kubeadm]) -> Kubeadm | None:
    """The row's own kubeadm, else the newest one that reads the row's API."""
    own = [k for k in kubeadms if k.version == release.version]
    readers = sorted((k for k in kubeadms if k.reads(release.kubeadm_api)), key=lambda k: k.version)
    return own[0] if own else (readers[-1] if readers else None)


def _message(output: str) -> str:
    """kubeadm's error text without klog prefixes and the stack-trace hint."""
    lines = [_KLOG.sub("", line).strip() for line in output.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith("To see the stack trace"))
    return text.removeprefix("error: ").strip()


def run_kubeadm(kubeadm: Kubeadm, text: str, directory: Path) -> tuple[str | None, list[str]]:
    """(kubeadm's complaint or None, unexpected warnings) for one kubeadm file."""
    config = directory / "kubeadm.yaml"
    config.write_text(text, encoding="utf-8")
    if kubeadm.has_validate:
        argv = [str(kubeadm.path), "config", "validate", "--config", str(config)]
    else:
        argv = [
            str(kubeadm.path),
            "config",
            "migrate",
            "--old-config",
            str(config),
            "--new-config",
            str(directory / "new.yaml"),
        ]
    completed = run(argv, timeout=60)
    stderr_lines = [line for line in completed.stderr.splitlines() if line.strip()]
    warnings = [_message(line) for line in stderr_lines if line.startswith("W") or "WARNING" in line]
    if completed.returncode != 0:
        errors = [line for line in stderr_lines if not (line.startswith("W") or "WARNING" in line)]
        return _message("\n".join(errors) or completed.stdout) or f"exited {completed.returncode}", []
    strict = [warning for warning in warnings if _STRICT_LOG.search(warning)]
    if strict:  # `config migrate` (before 1.28) only logs strict-decoding errors
        return "; ".join(strict), []
    if kubeadm.has_validate and completed.stdout.strip() != "ok":
        return f"no verdict from kubeadm: {completed.stdout.strip()[-300:]}", []
    return None, [w for w in warnings if not any(p.search(w) for p in EXPECTED_WARNINGS)]


def _documents(text: str) -> list[tuple[str, str]]:
    """(kind, YAML text) of each document of a file."""
    return [(str(doc.get("kind")), yaml.safe_dump(doc, sort_keys=False)) for doc in yaml.safe_load_all(text) if doc]


def blame(kubeadm: Kubeadm, text: str, message: str, directory: Path) -> list[str]:
    """The document kinds a failure comes from: named in kubeadm's message, else found by
    validating each kubeadm document alone (the KubeletConfiguration beside its file's first one)."""
    documents = _documents(text)
    kinds = [kind for kind, _ in documents]
    named = [kind for kind in dict.fromkeys(_KIND_IN_TEXT.findall(message)) if kind in kinds]
    if named:
        return named
    blamed = []
    anchors = [(kind, body) for kind, body in documents if kind in KUBEADM_KINDS]
    for kind, body in documents:
        if kind in KUBEADM_KINDS:
            if run_kubeadm(kubeadm, body, directory)[0]:
                blamed.append(kind)
        elif (
            anchors
            and not run_kubeadm(kubeadm, anchors[0][1], directory)[0]
            and run_kubeadm(kubeadm, anchors[0][1] + "---\n" + body, directory)[0]
        ):
            blamed.append(kind)
    return blamed or kinds


def judge(files: Sequence[KubeadmFile], kubeadms: Sequence[Kubeadm], result: ToolResult) -> None:
    """Run each file through its kubeadm; a failure is a finding naming the file (row), the kinds and kubeadm's text."""
    used: dict[str, list[str]] = {}
    read_as: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="validate-kubeadm-") as temporary:
        directory = Path(temporary)
        for file in files:
            kubeadm = choose(file.release, kubeadms)
            if kubeadm is None:
                result.findings.append(
                    Finding(
                        file.label,
                        f"no built kubeadm reads {file.release.kubeadm_api.value} (have {[str(k) for k in kubeadms]})",
                    )
                )
                continue
            text = file.text
            if "InitConfiguration" in file.kinds and not kubeadm.accepts_control_plane(file.release.version):
                text, count = _KUBERNETES_VERSION.subn(f"kubernetesVersion: v{kubeadm.version}", text)
                if count != 1:
                    raise ValueError(f"{file.label}: expected one kubernetesVersion line, found {count}")
                read_as.setdefault(str(kubeadm), []).append(file.label)
            result.checked += 1
            used.setdefault(str(kubeadm), []).append(file.release.minor)
            problem, warnings = run_kubeadm(kubeadm, text, directory)
            if problem:
                kinds = blame(kubeadm, text, problem, directory)
                result.findings.append(Finding(f"{file.label} ({', '.join(kinds)})", f"{kubeadm}: {problem}"))
            result.findings += [
                Finding(f"{file.label}", f"{kubeadm} warns: {warning}") for warning in dict.fromkeys(warnings)
            ]
    for name, minors in used.items():
        result.notes.append(f"{name} judged rows {', '.join(dict.fromkeys(minors))}")
    for name, labels in read_as.items():
        result.notes.append(
            f"{name} deploys no control plane more than one minor older than itself, so it read kubernetesVersion "
            f"as its own in: {', '.join(labels)} (`python -m tools.validate.kubeadm --own-kubeadm` checks every "
            "release row's files as written)"
        )


def _kubeadms(versions: Sequence[str], generate: bool = False, notes: list[str] | None = None) -> list[Kubeadm]:
    """The kubeadm of each version; with `notes`, one that cannot be built is noted there and skipped."""
    found = []
    for version in versions:
        try:
            found.append(ensure(version, generate=generate))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            if notes is None:
                raise
            notes.append(f"kubeadm v{version} could not be built here: {str(error).strip()[-400:]}")
    return found


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult(TOOL, stack)
    files = stack_files(stack, stack_dir)
    judge(files, _kubeadms(CI_VERSIONS), result)
    if not files:
        result.notes.append("no kubeadm file in the rendered user data")
    return result


def check_repository(
    releases: Sequence[Release] = RELEASES, versions: Sequence[str] = CI_VERSIONS, generate: bool = False
) -> ToolResult:
    """Every release row's init, control-plane join and worker join files (`generate`: write missing modules)."""
    result = ToolResult(TOOL, REPOSITORY)
    kubeadms = _kubeadms(versions, generate=generate, notes=result.notes if generate else None)
    judge([file for release in releases for file in row_files(release)], kubeadms, result)
    return result


def version() -> str:
    found = [ensure(v) for v in CI_VERSIONS]
    return ", ".join(run([str(k.path), "version", "-o", "short"]).stdout.strip() for k in found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.validate.kubeadm", description="kubeadm over every release row"
    )
    parser.add_argument("--own-kubeadm", action="store_true", help="build and use every row's own kubeadm (slow)")
    parser.add_argument("--minor", action="append", help="only this release row (repeatable)")
    parser.add_argument("--build", action="store_true", help="only build the kubeadm binaries `make validate` uses")
    args = parser.parse_args(argv)
    releases = [r for r in RELEASES if not args.minor or r.minor in args.minor]
    if args.build:
        print("\n".join(f"{k}: {k.path}" for k in _kubeadms(CI_VERSIONS)))
        return 0
    versions = [r.kubernetes_version for r in releases] if args.own_kubeadm else list(CI_VERSIONS)
    result = check_repository(releases, versions, generate=args.own_kubeadm)
    for finding in result.findings:
        print(f"{finding.location}: {finding.message}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}")
    print(f"kubeadm: {len(result.findings)} findings / {result.checked} files")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
