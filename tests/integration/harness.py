"""The pure part of the AWS integration run: what it needs, the throwaway stack's files, the checks
a person runs after `pulumi up` (read from kubectl's JSON and the stack's verification commands)
and the summary it writes. Everything here is unit-tested offline (tests/test_integration_harness.py);
`runner.py` does the I/O.
"""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from components.render.smoke import HTTP_PORT as SMOKE_PORT
from components.render.smoke import NAME as SMOKE_NAME
from components.render.smoke import NAMESPACE as SMOKE_NAMESPACE
from components.settings import PROJECT
from components.versions import RELEASES
from tools.bench.costs import inventory, monthly
from tools.bench.data import HOURS_PER_MONTH
from tools.offline.capture import Graph
from tools.offline.stackfiles import REPO_ROOT, list_stacks

# kubernetes/cloud-provider-aws: `aws:///<availability zone>/<instance id>`.
PROVIDER_ID = re.compile(r"^aws:///(?P<zone>[a-z]{2}(?:-gov)?-[a-z]+-\d[a-z])/(?P<instance>i-[0-9a-f]{8,17})$")
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
ZONE_LABEL = "topology.kubernetes.io/zone"
FAMILY_VERSIONS = {"IPv4": 4, "IPv6": 6}
LOAD_BALANCER_SERVICE = "integration-lb"
# The Pulumi SDK packages whose resource plugins the program needs, by plugin name.
PLUGIN_PACKAGES = {
    "aws": "pulumi_aws",
    "kubernetes": "pulumi_kubernetes",
    "tls": "pulumi_tls",
    "random": "pulumi_random",
}

# -- prerequisites ------------------------------------------------------------------------------

_CONFIG_CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "role_arn",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
)


def _profiles_with_credentials(path: Path) -> list[str]:
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return []
    return [name for name in parser.sections() if any(parser.has_option(name, key) for key in _CONFIG_CREDENTIAL_KEYS)]


def aws_credentials(environ: Mapping[str, str], home: Path) -> str | None:
    """Where the AWS SDKs would take credentials from (environment or a profile), or None.

    Instance and container roles are not probed: a run must be asked for, not picked up because
    the machine happens to be an EC2 instance."""
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    if environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and environ.get("AWS_ROLE_ARN"):
        return "environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    if environ.get("AWS_PROFILE"):
        return f"profile {environ['AWS_PROFILE']} (AWS_PROFILE)"
    files = (
        Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"),
        Path(environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
    )
    for path in files:
        profiles = _profiles_with_credentials(path) if path.is_file() else []
        if profiles:
            return f"profile {profiles[0]} ({path.name})"
    return None


def missing_prerequisites(environ: Mapping[str, str], home: Path, which: Callable[[str], str | None]) -> list[str]:
    """What the run lacks, each said so that the reader knows what to provide."""
    missing = []
    if which("pulumi") is None:
        missing.append("the pulumi CLI (not on PATH; https://www.pulumi.com/docs/iac/download-install/)")
    if which("kubectl") is None:
        missing.append("kubectl (not on PATH)")
    if aws_credentials(environ, home) is None:
        missing.append(
            "AWS credentials (none of: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE + "
            "AWS_ROLE_ARN, AWS_PROFILE, a profile with credentials in ~/.aws/credentials or ~/.aws/config)"
        )
    return missing


def skip_reason(missing: Sequence[str]) -> str:
    return "AWS integration run needs " + "; ".join(missing)


# -- the throwaway stack ------------------------------------------------------------------------


def newest_release_stack(project_dir: Path = REPO_ROOT) -> str:
    """The shipped stack of the newest release in the matrix: the run starts from its settings."""
    newest = RELEASES[-1].minor
    for stack in list_stacks(project_dir):
        config = _read_yaml(project_dir / f"Pulumi.{stack}.yaml").get("config") or {}
        if str(config.get(f"{PROJECT}:kubernetesVersion")) == newest:
            return stack
    raise LookupError(f"no Pulumi.<stack>.yaml with {PROJECT}:kubernetesVersion {newest}")


def shipped_stack_file(stack: str, project_dir: Path = REPO_ROOT) -> dict[str, Any]:
    return _read_yaml(project_dir / f"Pulumi.{stack}.yaml")


@dataclass(frozen=True)
class Names:
    stack: str
    cluster: str
    """Also the prefix of every AWS name and the cluster tag: unique per run."""


def throwaway_names(token: str | None = None) -> Names:
    token = token or secrets.token_hex(3)
    if not re.fullmatch(r"[a-z0-9]{1,12}", token):
        raise ValueError(f"token {token!r}: 1-12 lowercase letters or digits")
    return Names(stack=f"integration-{token}", cluster=f"it-{token}")


def admin_cidrs(public_ipv4: str | None, extra: Sequence[str] = ()) -> list[str]:
    """The runner's own address (/32) and any extra ranges: who may reach the API server (6443)."""
    cidrs = [f"{ipaddress.IPv4Address(public_ipv4.strip())}/32"] if public_ipv4 else []
    cidrs += [str(ipaddress.ip_network(cidr.strip(), strict=True)) for cidr in extra if cidr.strip()]
    if not cidrs:
        raise ValueError("no admin CIDR: the checks need to reach the API server from here")
    return cidrs


def stack_file(base: Mapping[str, Any], names: Names, cidrs: Sequence[str], region: str | None) -> dict[str, Any]:
    """`Pulumi.<stack>.yaml` of the throwaway stack: the shipped stack's config with the run's
    cluster name, admin ranges, region and the smoke workload on (the Service the checks call)."""
    config = dict(base.get("config") or {})
    config[f"{PROJECT}:clusterName"] = names.cluster
    config[f"{PROJECT}:adminCidrs"] = list(cidrs)
    config[f"{PROJECT}:smokeWorkload"] = True
    if region:
        config["aws:region"] = region
    return {"config": config}


def inline_project(project: Mapping[str, Any]) -> dict[str, Any]:
    """`Pulumi.yaml` for the Automation API's inline program: the project's name and typed `config:`
    block (its defaults are the engine's), without the runtime options of a CLI program (the
    virtualenv belongs to the repository; the inline program runs in this interpreter)."""
    document = {key: value for key, value in project.items() if key not in ("runtime", "main")}
    document["runtime"] = "python"
    return document


def write_workspace(
    work_dir: Path, names: Names, stack_document: Mapping[str, Any], project_dir: Path = REPO_ROOT
) -> Path:
    """Writes `Pulumi.yaml` and the throwaway `Pulumi.<stack>.yaml` into `work_dir` (never into the
    repository, where every test would take it for a shipped stack); returns the stack file."""
    work_dir.mkdir(parents=True, exist_ok=True)
    project = inline_project(_read_yaml(project_dir / "Pulumi.yaml"))
    (work_dir / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    path = work_dir / f"Pulumi.{names.stack}.yaml"
    path.write_text(yaml.safe_dump(dict(stack_document), sort_keys=False), encoding="utf-8")
    return path


def inline_program(project_dir: Path = REPO_ROOT) -> Callable[[], None]:
    """The project's program as an Automation API inline program (the same entry point as `__main__.py`)."""

    def program() -> None:
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        from components.program import run  # noqa: PLC0415 - imported where the engine runs it

        run()

    return program


def required_plugins() -> list[tuple[str, str]]:
    """(plugin, version) of the resource plugins of the installed Pulumi SDK packages."""
    return [(plugin, metadata.version(package)) for plugin, package in sorted(PLUGIN_PACKAGES.items())]


def workspace_env(environ: Mapping[str, str], state_dir: Path, passphrase: str) -> dict[str, str]:
    """What the Pulumi CLI is given: the user's backend if set, else a file backend in `state_dir`
    (kept after the run, so a failed destroy can be retried); a passphrase for its secrets unless
    the user set one."""
    env = {}
    if not environ.get("PULUMI_BACKEND_URL"):
        env["PULUMI_BACKEND_URL"] = state_dir.resolve().as_uri()
    if not (environ.get("PULUMI_CONFIG_PASSPHRASE") or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    return env


# -- the checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _family(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address.strip("[]")).version
    except ValueError:
        return None


def parse_node_addresses(output: str) -> dict[str, list[tuple[str, str]]]:
    """The output of the stack's `verifyNodeAddresses`: a node name per line, then `  <type>: <address>` lines."""
    nodes: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in output.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = nodes.setdefault(line.strip(), [])
        elif current is not None and ":" in line:
            kind, address = line.strip().split(":", 1)
            current.append((kind.strip(), address.strip()))
    return nodes


def node_address_checks(output: str, node_names: Sequence[str], primary: str) -> list[Check]:
    """Every node lists an InternalIP of each family, the stack's primary family first."""
    listed = parse_node_addresses(output)
    checks = [
        Check(
            "verifyNodeAddresses lists every node",
            sorted(listed) == sorted(node_names),
            f"listed {sorted(listed)}, nodes {sorted(node_names)}",
        )
    ]
    for name, addresses in sorted(listed.items()):
        internal = [address for kind, address in addresses if kind == "InternalIP"]
        families = [_family(address) for address in internal]
        both = {4, 6} <= set(families)
        first = bool(families) and families[0] == FAMILY_VERSIONS[primary]
        checks.append(
            Check(
                f"{name}: InternalIP of both families, {primary} first",
                both and first,
                ", ".join(internal) or "no InternalIP",
            )
        )
    return checks


def node_checks(nodes: Mapping[str, Any], expected_count: int) -> list[Check]:
    """`kubectl get nodes -o json`: the count, and per node Ready, initialised by the CCM (the
    uninitialized taint gone) and its providerID `aws:///<zone>/i-...` in the node's zone."""
    items = list(nodes.get("items") or [])
    checks = [Check("node count", len(items) == expected_count, f"{len(items)} nodes, expected {expected_count}")]
    for node in items:
        name = node["metadata"]["name"]
        status, spec = node.get("status") or {}, node.get("spec") or {}
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        checks.append(Check(f"{name}: Ready", bool(ready) and ready[0].get("status") == "True", str(ready)))
        taints = [t.get("key") for t in spec.get("taints") or []]
        checks.append(Check(f"{name}: initialised by the CCM", UNINITIALIZED_TAINT not in taints, f"taints {taints}"))
        provider_id = spec.get("providerID", "")
        match = PROVIDER_ID.match(provider_id)
        zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL)
        ok = bool(match) and (zone is None or (match is not None and match["zone"] == zone))
        checks.append(Check(f"{name}: providerID aws:///<zone>/i-...", ok, f"{provider_id or 'none'} (zone {zone})"))
    return checks


_ANSWER = re.compile(r"^(?P<family>IPv4|IPv6) (?P<ip>\S+) -> (?P<answer>.*)$")


def service_family_checks(output: str, families: Sequence[str]) -> list[Check]:
    """The output of the stack's `verifyServiceFamilies`: one `<family> <cluster IP> -> <answer>` line
    per family; the answer (netexec's /clientip, `ip:port`) is an address of that family."""
    answers = {m["family"]: m for m in (_ANSWER.match(line.strip()) for line in output.splitlines()) if m}
    checks = []
    for family in families:
        match = answers.get(family)
        if match is None:
            checks.append(Check(f"smoke Service answers over {family}", False, f"no {family} line in: {output!r}"))
            continue
        answer = match["answer"].strip()
        host = answer.rsplit(":", 1)[0] if answer.count(":") == 1 or answer.startswith("[") else answer
        ok = _family(match["ip"]) == FAMILY_VERSIONS[family] and _family(host) == FAMILY_VERSIONS[family]
        checks.append(Check(f"smoke Service answers over {family}", ok, f"{match['ip']} -> {answer}"))
    return checks


def load_balancer_service(
    source_ranges: Sequence[str], port: int = 80, target_port: int = SMOKE_PORT
) -> dict[str, Any]:
    """A `LoadBalancer` Service in front of the smoke pods: the CCM must create a load balancer for it.

    Open only to `source_ranges` (the run's admin CIDRs): agnhost netexec also serves `/shell` and
    `/upload`, which must never face the internet."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": LOAD_BALANCER_SERVICE, "namespace": SMOKE_NAMESPACE},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerSourceRanges": list(source_ranges),
            "selector": {"app": SMOKE_NAME},
            "ports": [{"name": "http", "port": port, "targetPort": target_port}],
        },
    }


def load_balancer_address(service: Mapping[str, Any]) -> str | None:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return next((entry.get("hostname") or entry.get("ip") for entry in ingress if entry), None)


def load_balancer_check(service: Mapping[str, Any]) -> Check:
    address = load_balancer_address(service)
    return Check("LoadBalancer Service gets an address", bool(address), address or "no ingress yet")


# -- what a run costs -----------------------------------------------------------------------------


def run_cost(graph: Graph, hours: float) -> list[tuple[str, str, float]]:
    """(item, quantity, USD) of keeping what `graph` creates for `hours`, from the bench's price table
    (tools/bench): hourly prices times the hours, monthly ones (EBS, KMS) prorated over 730 hours."""
    return [(line.item, line.counted, line.monthly_usd * hours / HOURS_PER_MONTH) for line in monthly(inventory(graph))]


# -- the summary --------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    ok: bool
    seconds: float
    error: str = ""


@dataclass
class Summary:
    stack: str
    cluster: str
    kubernetes_version: str
    region: str
    backend: str
    started: str
    finished: str = ""
    phases: list[Phase] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    destroyed: bool = False
    retry: str = ""
    """The commands that finish the cleanup when `destroyed` is false."""

    @property
    def ok(self) -> bool:
        return (
            self.destroyed and all(p.ok for p in self.phases) and bool(self.checks) and all(c.ok for c in self.checks)
        )

    def failures(self) -> list[str]:
        found = [f"phase {p.name}: {p.error}" for p in self.phases if not p.ok]
        found += [f"check {c.name}: {c.detail}" for c in self.checks if not c.ok]
        if not self.checks:
            found.append("no check ran")
        if not self.destroyed:
            found.append(f"not destroyed; finish with: {self.retry}")
        return found


def summary_document(summary: Summary) -> dict[str, Any]:
    document = asdict(summary)
    document["ok"] = summary.ok
    document["failures"] = summary.failures()
    return document


def write_summary(path: Path, summary: Summary) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary_document(summary), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write a secret (state passphrase, admin kubeconfig) that is never readable by others, not even
    for a moment: created 0600, not chmod-ed afterwards."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT
