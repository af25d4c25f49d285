"""Offline evaluation of the policy pack over captured resources, as `pulumi preview --policy-pack` would.

    python -m tools.policy_report config --stack dev [--out FILE]   # the pack config of a stack
    python -m tools.policy_report check build/render/dev/resources.json [--stack dev]

Each captured resource becomes the pack's real `ResourceValidationArgs` (inputs, camelCase, behind
pulumi_policy's unknown-checking proxy, secrets unwrapped as the engine does) and the whole graph
one `StackValidationArgs` (outputs overlaid with inputs, parents and dependencies linked); every
policy of `policies.pack` runs with the stack's policy config. `write_policy_report` is the
render writer (policy-report.json + policy-report.md); `check_gate` fails a render on a
mandatory violation.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.settings import parse_settings
from components.tags import cluster_tag_key
from policies.base import ADMIN_CIDRS, CLUSTER_TAG_KEY
from policies.pack import PACK_NAME, POLICIES, policy_named
from tools.offline.capture import REDACTED, Graph, is_secret, is_unknown
from tools.offline.stackfiles import stack_config
from tools.output import UNKNOWN_TEXT, write_json, write_text

REPORT_JSON = "policy-report.json"
REPORT_MARKDOWN = "policy-report.md"
PackConfig = dict[str, dict[str, Any]]


class PolicyGateError(Exception):
    """A render whose policy report has mandatory violations."""


@dataclass(frozen=True)
class Captured:
    """A resource as the policy engine sees it; values in wire form (unknowns are sentinels)."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    provider_urn: str | None = None


def _wire(value: Any, from_json: bool = False) -> Any:
    """Secrets unwrapped (the engine hands policies plaintext), unknowns as the engine's sentinel."""
    if is_secret(value):
        return _wire(value["value"], from_json)
    if is_unknown(value) or (from_json and value in (REDACTED, UNKNOWN_TEXT)):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {str(key): _wire(item, from_json) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(item, from_json) for item in value]
    return value


def captured_from_graph(graph: Graph) -> list[Captured]:
    return [
        Captured(
            # Stack policies see outputs; of the mock's outputs only the id is taken: the rest echoes
            # the inputs and would mask an edited input (a broken variant) from the stack policies.
            record.type,
            record.name,
            record.urn,
            _wire(record.inputs),
            {"id": record.id} if record.id else {},
            record.parent,
            record.dependencies,
            dict(record.property_dependencies),
            record.provider_urn,
        )
        for record in graph.resources
    ]


def captured_from_documents(documents: Sequence[Mapping[str, Any]]) -> list[Captured]:
    """The resources of a render's resources.json (secrets and unknowns there cannot be told)."""
    return [
        Captured(
            doc["type"],
            doc["name"],
            doc["urn"],
            _wire(doc.get("inputs") or {}, from_json=True),
            {},
            doc.get("parent"),
            tuple(doc.get("dependencies") or ()),
            {key: tuple(urns) for key, urns in (doc.get("propertyDependencies") or {}).items()},
            doc.get("provider"),
        )
        for doc in documents
    ]


def _options(resource: Captured) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], resource.parent)


def resource_args(
    resource: Captured, config: Mapping[str, Any] | None = None, provider: Captured | None = None
) -> ResourceValidationArgs:
    provider_resource = (
        None
        if provider is None
        else PolicyProviderResource(provider.type, unknown_checking_proxy(provider.inputs), provider.urn, provider.name)
    )
    return ResourceValidationArgs(
        resource.type,
        unknown_checking_proxy(resource.inputs),
        resource.urn,
        resource.name,
        _options(resource),
        provider_resource,
        dict(config or {}),
    )


def stack_args(resources: Sequence[Captured], config: Mapping[str, Any] | None = None) -> StackValidationArgs:
    policy_resources = {
        r.urn: PolicyResource(
            r.type, unknown_checking_proxy(r.outputs | r.inputs), r.urn, r.name, _options(r), None, None, [], {}
        )
        for r in resources
    }
    for r in resources:
        target = policy_resources[r.urn]
        target.parent = policy_resources.get(r.parent or "")
        target.dependencies = [policy_resources[urn] for urn in r.dependencies if urn in policy_resources]
        target.property_dependencies = {
            key: [policy_resources[urn] for urn in urns if urn in policy_resources]
            for key, urns in r.property_dependencies.items()
        }
    return StackValidationArgs(list(policy_resources.values()), dict(config or {}))


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    severity: str
    urn: str | None
    message: str


@dataclass(frozen=True)
class Report:
    stack: str
    mode: str
    resources: int
    config: PackConfig
    violations: list[Violation]
    not_evaluable: list[dict[str, str]]
    """(policy, urn, reason) where a validator hit an unknown value: the engine's advisory diagnostic."""

    def count(self, level: EnforcementLevel) -> int:
        return sum(violation.enforcement == level.value for violation in self.violations)

    @property
    def mandatory(self) -> int:
        return self.count(EnforcementLevel.MANDATORY)

    def document(self, policies: Sequence[Policy] = POLICIES) -> dict[str, Any]:
        return {
            "policyPack": PACK_NAME,
            "stack": self.stack,
            "mode": self.mode,
            "resourcesEvaluated": self.resources,
            "config": self.config,
            "summary": {
                level.value: self.count(level) for level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
            },
            "policies": [_policy_document(policy, self.violations) for policy in policies],
            "violations": [vars(violation) for violation in self.violations],
            "notEvaluable": self.not_evaluable,
        }


def _level(policy: Policy) -> str:
    return (policy.enforcement_level or EnforcementLevel.ADVISORY).value


def _policy_document(policy: Policy, violations: Sequence[Violation]) -> dict[str, Any]:
    return {
        "name": policy.name,
        "kind": "stack" if isinstance(policy, StackValidationPolicy) else "resource",
        "enforcementLevel": _level(policy),
        "severity": policy.severity.value if policy.severity else None,
        "description": policy.description,
        "remediation": policy.remediation_steps,
        "violations": sum(violation.policy == policy.name for violation in violations),
    }


def _reporter(violations: list[Violation], policy: Policy, resource_urn: str) -> ReportViolation:
    """The engine's report_violation: a resource policy's violations belong to the resource validated."""

    def report(message: str, urn: str | None = None) -> None:
        severity = policy.severity.value if policy.severity else ""
        violations.append(Violation(policy.name, _level(policy), severity, resource_urn or urn, message))

    return report


def _run(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    args: Any,
    urn: str,
    violations: list[Violation],
    not_evaluable: list[dict[str, str]],
) -> None:
    try:
        policy.validate(args, _reporter(violations, policy, urn))
    except UnknownValueError as error:  # the engine reports "can't run policy during preview" instead
        not_evaluable.append({"policy": policy.name, "urn": urn, "reason": error.message})


def evaluate(
    resources: Sequence[Captured],
    config: PackConfig | None = None,
    *,
    stack: str = "",
    mode: str = "up",
    policies: Sequence[Policy] = POLICIES,
) -> Report:
    """Run every policy over `resources` the way the engine does (a resource policy once per resource)."""
    config = config or {}
    by_urn = {resource.urn: resource for resource in resources}
    violations: list[Violation] = []
    not_evaluable: list[dict[str, str]] = []
    for policy in policies:
        if policy.enforcement_level == EnforcementLevel.DISABLED:
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                args = resource_args(resource, config.get(policy.name), by_urn.get(resource.provider_urn or ""))
                _run(policy, args, resource.urn, violations, not_evaluable)
        elif isinstance(policy, StackValidationPolicy):
            _run(policy, stack_args(resources, config.get(policy.name)), "", violations, not_evaluable)
    order = {policy.name: index for index, policy in enumerate(policies)}
    violations.sort(key=lambda v: (order[v.policy], v.urn or "", v.message))
    return Report(stack, mode, len(resources), config, violations, not_evaluable)


def named(resources: Sequence[Captured], type_token: str, name: str) -> Captured:
    """The resource of that type and logical name; the error lists the names that exist."""
    for resource in resources:
        if resource.type == type_token and resource.name == name:
            return resource
    raise LookupError(f"no {type_token} {name!r}; names: {sorted(r.name for r in resources if r.type == type_token)}")


def run_policy(name: str, resources: Sequence[Captured], config: Mapping[str, Any] | None = None) -> list[Violation]:
    """The violations of one policy of the pack over `resources`, with that policy's `config`."""
    return evaluate(resources, {name: dict(config or {})}, policies=[policy_named(name)]).violations


def edit_resources(
    resources: Sequence[Captured], select: Callable[[Captured], bool], edit: Callable[[dict[str, Any]], object]
) -> list[Captured]:
    """A copy of `resources` where `edit` changed (in place) a deep copy of the inputs of each selected one."""

    def edited(resource: Captured) -> Captured:
        inputs = copy.deepcopy(resource.inputs)
        edit(inputs)
        return replace(resource, inputs=inputs)

    if not any(map(select, resources)):
        raise LookupError("edit_resources: no resource selected")
    return [edited(resource) if select(resource) else resource for resource in resources]


def pack_config(stack: str) -> PackConfig:
    """The policy config of a stack, from its settings: admin CIDRs and the cluster tag key."""
    settings = parse_settings(stack_config(stack), stack)
    values = {
        ADMIN_CIDRS: [str(cidr) for cidr in settings.network.admin_cidrs],
        CLUSTER_TAG_KEY: cluster_tag_key(settings.cluster_name),
    }
    config: PackConfig = {}
    for policy in POLICIES:
        properties = policy.config_schema.properties if policy.config_schema else {}
        wanted = {key: value for key, value in values.items() if key in properties}
        if wanted:
            config[policy.name] = wanted
    return config


def summary_text(report: Report) -> str:
    lines = [
        f"policy pack {PACK_NAME}, stack {report.stack} ({report.mode}): {len(POLICIES)} policies over "
        f"{report.resources} resources: {report.mandatory} mandatory, "
        f"{report.count(EnforcementLevel.ADVISORY)} advisory violation(s)"
    ]
    lines += [f"  {v.enforcement.upper()} {v.policy}: {v.message}" for v in report.violations]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    document = report.document()
    lines = [
        f"# Policy report: stack {report.stack} ({report.mode})",
        "",
        f"Pack `{PACK_NAME}`, {report.resources} resources: **{report.mandatory} mandatory**, "
        f"{report.count(EnforcementLevel.ADVISORY)} advisory violation(s).",
        "",
        "| policy | level | severity | violations | checks |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{p['name']}` | {p['enforcementLevel']} | {p['severity']} | {p['violations']} | {p['description']} |"
        for p in document["policies"]
    ]
    if report.violations:
        lines += ["", "## Violations", ""]
        lines += [f"- **{v.enforcement}** `{v.policy}` `{v.urn or 'stack'}`: {v.message}" for v in report.violations]
    return "\n".join(lines) + "\n"


def write_report(report: Report, directory: Path) -> list[Path]:
    return [
        write_json(directory / REPORT_JSON, report.document()),
        write_text(directory / REPORT_MARKDOWN, markdown(report)),
    ]


def write_policy_report(graph: Graph, directory: Path) -> list[Path]:
    """Render writer: evaluate the pack over the graph, write the report, print its summary."""
    report = evaluate(
        captured_from_graph(graph),
        pack_config(graph.stack_name),
        stack=graph.stack_name,
        mode="preview" if graph.preview else "up",
    )
    print(summary_text(report))
    return write_report(report, directory)


def check_gate(directory: Path) -> None:
    """Raise PolicyGateError when the report in `directory` has mandatory violations."""
    document = json.loads((directory / REPORT_JSON).read_text(encoding="utf-8"))
    mandatory = document["summary"][EnforcementLevel.MANDATORY.value]
    if mandatory:
        raise PolicyGateError(f"{mandatory} mandatory policy violation(s), see {directory / REPORT_MARKDOWN}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.policy_report", description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    config_command = commands.add_parser("config", help="write the pack config of a stack (--policy-pack-config)")
    config_command.add_argument("--stack", required=True)
    config_command.add_argument("--out", type=Path, help="file to write (default: stdout)")
    check = commands.add_parser("check", help="evaluate a render's resources.json; exit 1 on a mandatory violation")
    check.add_argument("resources", type=Path)
    check.add_argument("--stack", help="stack whose config applies (default: the file's directory name)")
    args = parser.parse_args(argv)

    if args.command == "config":
        text = json.dumps(pack_config(args.stack), indent=2, sort_keys=True) + "\n"
        if args.out:
            write_text(args.out, text)
        else:
            sys.stdout.write(text)
        return 0
    stack = args.stack or args.resources.resolve().parent.name
    documents = json.loads(args.resources.read_text(encoding="utf-8"))
    report = evaluate(captured_from_documents(documents), pack_config(stack), stack=stack)
    print(summary_text(report))
    return 1 if report.mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
