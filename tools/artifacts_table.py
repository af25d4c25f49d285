"""The table of verified artefacts (docs/reference/artifacts.md) and the inventory checked against it.

`parse_table` / `parse_pins_table` read the page's markdown tables; `check` compares collected
artefacts (`tools.artifacts_collect`) with it; `inventory_document` and `summary_lines` are what
`make render` writes and prints. Pure: the only file read is the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.artifacts_collect import Artifact
from tools.offline.stackfiles import REPO_ROOT

TABLE_PATH = REPO_ROOT / "docs" / "reference" / "artifacts.md"
TABLE_HEADER = ("kind", "artefact", "status", "record")
VERIFIED = "verified"
UNVERIFIED = "unverified"
UNLISTED = "unlisted"
"""Status of an artefact the table does not list at all: `check` reports it, the tests fail."""


@dataclass(frozen=True)
class TableRow:
    kind: str
    name: str
    status: str
    record: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_rows(text: str, header: tuple[str, ...]) -> Iterator[tuple[list[str], str]]:
    """Cells (and the line) of every body row of the markdown tables headed by `header`."""
    in_table = False
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if tuple(cell.lower() for cell in cells) == header:
            in_table = True
        elif in_table and not set("".join(cells)) <= set("-: "):
            yield cells, line


def parse_table(text: str) -> dict[tuple[str, str], TableRow]:
    """Rows of every markdown table whose header is TABLE_HEADER; names may be in backticks."""
    rows: dict[tuple[str, str], TableRow] = {}
    for cells, line in _table_rows(text, TABLE_HEADER):
        if len(cells) != len(TABLE_HEADER):
            raise ValueError(f"artefact table row has {len(cells)} cells, expected {len(TABLE_HEADER)}: {line}")
        kind, name, status, record = cells
        row = TableRow(kind, name.strip("`"), status.split(":", 1)[0].strip().lower(), record)
        if row.status not in (VERIFIED, UNVERIFIED):
            raise ValueError(f"artefact table row {row.name}: status {status!r}, allowed is verified or unverified")
        if row.key in rows:
            raise ValueError(f"artefact table lists {row.kind} {row.name} twice")
        rows[row.key] = row
    return rows


def load_table(path: Path = TABLE_PATH) -> dict[tuple[str, str], TableRow]:
    return parse_table(path.read_text())


PINS_HEADER = ("release", "etcd", "coredns", "pause", "status", "record")


@dataclass(frozen=True)
class PinRow:
    release: str
    etcd: str
    coredns: str
    pause: str
    status: str
    record: str


def parse_pins_table(text: str) -> dict[str, PinRow]:
    """The page's table of kubeadm's etcd, CoreDNS and pause tags per release (header PINS_HEADER)."""
    rows: dict[str, PinRow] = {}
    for cells, _ in _table_rows(text, PINS_HEADER):
        if len(cells) == len(PINS_HEADER):
            release, etcd, coredns, pause, status, record = cells
            rows[release] = PinRow(release, etcd, coredns, pause, status.split(":", 1)[0].strip().lower(), record)
    return rows


@dataclass(frozen=True)
class CheckResult:
    unlisted: tuple[Artifact, ...]
    unverified: tuple[tuple[Artifact, TableRow], ...]

    @property
    def ok(self) -> bool:
        return not self.unlisted


def check(artifacts: Sequence[Artifact], table: Mapping[tuple[str, str], TableRow]) -> CheckResult:
    unlisted = tuple(artifact for artifact in artifacts if artifact.key not in table)
    unverified = tuple(
        (artifact, table[artifact.key])
        for artifact in artifacts
        if artifact.key in table and table[artifact.key].status == UNVERIFIED
    )
    return CheckResult(unlisted, unverified)


def inventory_document(
    stack: str,
    artifacts: Sequence[Artifact],
    table: Mapping[tuple[str, str], TableRow],
    pins: Mapping[str, PinRow] | None = None,
) -> dict[str, Any]:
    """artifacts.json: every artefact with its table status and record, counts per kind."""

    def entry(artifact: Artifact) -> dict[str, Any]:
        row = table.get(artifact.key)
        document: dict[str, Any] = {
            "kind": artifact.kind.value,
            "name": artifact.name,
            "pulledBy": artifact.pulled_by,
            "foundIn": list(artifact.found_in),
            "status": row.status if row else UNLISTED,
            "record": row.record if row else "",
        }
        if artifact.checksum:
            document["checksum"] = artifact.checksum
        return document

    entries = [entry(artifact) for artifact in artifacts]
    # The releases whose kubeadm pins decided etcd, CoreDNS and pause: those of the kube-apiserver images.
    versions = sorted({a.name.rsplit(":v", 1)[1] for a in artifacts if "/kube-apiserver:v" in a.name})
    return {
        "stack": stack,
        "table": str(TABLE_PATH.relative_to(REPO_ROOT)),
        "counts": dict(sorted(Counter(artifact.kind.value for artifact in artifacts).items())),
        "unverified": [e["name"] for e in entries if e["status"] == UNVERIFIED],
        "unlisted": [e["name"] for e in entries if e["status"] == UNLISTED],
        "kubeadmPins": {
            version: pins[version].status if pins and version in pins else UNLISTED for version in versions
        },
        "artifacts": entries,
    }


def summary_lines(document: Mapping[str, Any]) -> Iterator[str]:
    """The render summary's lines about the inventory (counts, then what is not verified)."""
    counts = ", ".join(f"{count} {kind}" for kind, count in document["counts"].items())
    yield f"artifacts: {sum(document['counts'].values())} ({counts}) -> artifacts.json"
    unverified = document["unverified"]
    yield f"  unverified: {len(unverified)}" + (f" ({document['table']})" if unverified else "")
    yield from (f"    - {name}" for name in unverified)
    for version, status in document.get("kubeadmPins", {}).items():
        if status != VERIFIED:
            yield f"  kubeadm {version}: etcd/CoreDNS/pause tags {status} ({document['table']})"
    unlisted = document["unlisted"]
    if unlisted:
        yield f"  NOT IN {document['table']}: {len(unlisted)}"
        yield from (f"    - {name}" for name in unlisted)
