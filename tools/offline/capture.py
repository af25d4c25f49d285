"""Record what a Pulumi program registers with the (mock) engine, as a queryable `Graph`.

`CapturingMonitor` is Pulumi's `MockMonitor` plus a recorder. Besides recording, it does the
one thing the real engine does and the stock mock monitor does not: outputs named in a
resource's `additionalSecretOutputs` (pulumi-tls private keys, random passwords) come back as
secrets, so secrecy flows through the program exactly as in `pulumi up`.

Values keep the SDK's wire markers: a secret is `{SECRET_SIG_KEY: SECRET_SIG, "value": ...}` (use
`unwrap_secrets` / `redact_secrets`), and during a preview an unknown value is an
`pulumi.output.Unknown` instance (use `is_unknown`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import empty_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks, _resolve_callbacks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

STACK_TYPE = "pulumi:pulumi:Stack"
SECRET_SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
REDACTED = "[secret]"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (only during a preview)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


def unwrap_secrets(value: Any) -> Any:
    """The plain value, with every secret marker (at any depth) removed."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def redact_secrets(value: Any) -> Any:
    """The value with every secret (at any depth) replaced by `"[secret]"`."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def contains_secrets(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secrets(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_secrets(item) for item in value)
    return False


@dataclass(frozen=True)
class ResourceRecord:
    """One `RegisterResource` call: the request as the engine saw it and what the mock answered."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    provider: str | None
    """Provider reference `<provider urn>::<provider id>`; None for the default provider."""
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    protect: bool
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    retain_on_delete: bool
    deleted_with: str | None
    remote: bool
    inputs: dict[str, Any]
    """Deserialized inputs, secret markers and (preview) unknowns kept."""
    id: str | None
    state: dict[str, Any]
    """The outputs the mock returned (secret markers kept)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What a component passed to `register_outputs` (empty for custom resources)."""

    @property
    def provider_urn(self) -> str | None:
        return self.provider.rsplit("::", 1)[0] if self.provider else None


@dataclass(frozen=True)
class InvokeRecord:
    token: str
    args: dict[str, Any]


def _urn_of(value: str | ResourceRecord) -> str:
    return value.urn if isinstance(value, ResourceRecord) else value


@dataclass(frozen=True)
class Graph:
    """Everything a program registered, sorted by URN; the root Stack is `stack`, not in `resources`."""

    resources: list[ResourceRecord]
    stack: ResourceRecord | None
    exports: dict[str, Any]
    """The stack outputs (`pulumi.export`), secret markers and unknowns kept."""
    invokes: list[InvokeRecord]
    project: str = ""
    stack_name: str = ""
    preview: bool = False
    _by_urn: dict[str, ResourceRecord] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        everything = self.resources + ([self.stack] if self.stack else [])
        self._by_urn.update({record.urn: record for record in everything})

    def get(self, urn: str) -> ResourceRecord:
        try:
            return self._by_urn[urn]
        except KeyError:
            raise KeyError(f"no resource {urn} in the graph of stack {self.stack_name!r}") from None

    def by_type(self, type_token: str) -> list[ResourceRecord]:
        return [record for record in self.resources if record.type == type_token]

    def one(self, type_token: str, name: str) -> ResourceRecord:
        """The resource of this type and logical name; the error lists the names that exist."""
        matches = [record for record in self.by_type(type_token) if record.name == name]
        if len(matches) != 1:
            names = sorted(record.name for record in self.by_type(type_token))
            raise KeyError(f"{len(matches)} resources {type_token} named {name!r}; names of that type: {names}")
        return matches[0]

    def children_of(self, parent: str | ResourceRecord) -> list[ResourceRecord]:
        urn = _urn_of(parent)
        return [record for record in self.resources if record.parent == urn]

    def descendants_of(self, parent: str | ResourceRecord) -> list[ResourceRecord]:
        found: list[ResourceRecord] = []
        queue = self.children_of(parent)
        while queue:
            record = queue.pop(0)
            found.append(record)
            queue.extend(self.children_of(record))
        return sorted(found, key=lambda record: record.urn)

    def ancestors(self, resource: str | ResourceRecord) -> list[ResourceRecord]:
        """The parent chain, nearest first, ending with the root Stack."""
        chain: list[ResourceRecord] = []
        parent = self.get(_urn_of(resource)).parent
        while parent:
            record = self.get(parent)
            chain.append(record)
            parent = record.parent
        return chain

    def _edges(self, urn: str) -> Iterator[str]:
        record = self.get(urn)
        yield from record.dependencies
        for urns in record.property_dependencies.values():
            yield from urns
        if record.parent:
            yield record.parent

    def depends_on(self, resource: str | ResourceRecord, other: str | ResourceRecord, transitive: bool = True) -> bool:
        """Whether `resource` waits for `other`: via dependencies, property dependencies or parents.

        The SDK sends a dependency on a component as dependencies on its custom descendants,
        so reaching any descendant of `other` counts as depending on `other`.
        """
        start, target = _urn_of(resource), _urn_of(other)
        targets = {target} | {record.urn for record in self.descendants_of(target)}
        seen: set[str] = set()
        frontier = [start]
        while frontier:
            urn = frontier.pop()
            for edge in self._edges(urn):
                if edge in targets and edge != start:
                    return True
                if transitive and edge not in seen and edge in self._by_urn:
                    seen.add(edge)
                    frontier.append(edge)
        return False

    def invokes_of(self, token: str) -> list[InvokeRecord]:
        return [invoke for invoke in self.invokes if invoke.token == token]


def _sort_key(value: Any) -> str:
    return repr(unwrap_secrets(value))


class CapturingMonitor(MockMonitor):
    """A `MockMonitor` that records every registration, invoke and stack output.

    The SDK calls the monitor from executor threads, so all recording is under a lock.
    """

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self._lock = threading.Lock()
        self._records: dict[str, ResourceRecord] = {}
        self._outputs: dict[str, dict[str, Any]] = {}
        self._invokes: list[InvokeRecord] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN: the parent's qualified type chain, except the root Stack's, then the type.

        (pulumi `resource.NewURN`; the stock mock monitor keeps only the parent's last type.)
        """
        if parent:
            qualified_type = parent.split("::")[2]
            if qualified_type != STACK_TYPE:
                type_ = f"{qualified_type}${type_}"
        return "urn:pulumi:" + "::".join([get_stack(), get_project(), type_, name])

    def _record(self, request: Any, urn: str, inputs: dict[str, Any], id_: str | None, state: dict[str, Any]) -> None:
        record = ResourceRecord(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            dependencies=tuple(sorted(set(request.dependencies))),
            property_dependencies={
                key: tuple(sorted(set(deps.urns))) for key, deps in sorted(request.propertyDependencies.items())
            },
            provider=request.provider or None,
            ignore_changes=tuple(request.ignoreChanges),
            replace_on_changes=tuple(request.replaceOnChanges),
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
            retain_on_delete=bool(request.retainOnDelete),
            deleted_with=request.deletedWith or None,
            remote=bool(request.remote),
            inputs=inputs,
            id=id_ or None,
            state=state,
        )
        with self._lock:
            self._records[urn] = record

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            self._record(request, urn, {}, None, {})
            return resource_pb2.RegisterResourceResponse(urn=urn)

        # Deserializing resource references needs an event loop on this executor thread.
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=_resolve_callbacks(request.transforms),
        )
        id_, state = self.mocks.new_resource(args)
        state = dict(state)
        # The engine marks these outputs secret whatever the provider returned.
        for key in request.additionalSecretOutputs:
            if key in state:
                state[key] = rpc.wrap_rpc_secret(state[key])
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_ or "", state)
        self._record(request, urn, inputs, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj_proto)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        _ensure_event_loop()
        outputs = rpc.deserialize_properties(request.outputs)
        with self._lock:
            # Merged: the mock runtime registers the root stack's (empty) outputs once up front.
            self._outputs.setdefault(request.urn, {}).update(outputs)
        return empty_pb2.Empty()

    def Invoke(self, request: Any) -> Any:
        _ensure_event_loop()
        args = rpc.deserialize_properties(request.args)
        with self._lock:
            self._invokes.append(InvokeRecord(request.tok, args))
        return super().Invoke(request)

    def graph(self, project: str = "", stack_name: str = "", preview: bool = False) -> Graph:
        """A snapshot of everything recorded so far (also usable after the program failed)."""
        with self._lock:
            records = list(self._records.values())
            outputs = {urn: dict(values) for urn, values in self._outputs.items()}
            invokes = list(self._invokes)
        merged = [ResourceRecord(**{**record.__dict__, "outputs": outputs.get(record.urn, {})}) for record in records]
        stack = next((record for record in merged if record.type == STACK_TYPE), None)
        return Graph(
            resources=sorted((record for record in merged if record.type != STACK_TYPE), key=lambda r: r.urn),
            stack=stack,
            exports=dict(sorted((stack.outputs if stack else {}).items())),
            invokes=sorted(invokes, key=lambda invoke: (invoke.token, _sort_key(invoke.args))),
            project=project,
            stack_name=stack_name,
            preview=preview,
        )


def urns(records: Iterable[ResourceRecord]) -> list[str]:
    return [record.urn for record in records]
