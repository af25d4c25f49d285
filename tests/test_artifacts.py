"""The artefact inventory: collected from the render, and every artefact listed in the checked table."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from conftest import STACKS, RenderGraph
from pulumi.runtime import rpc

from components.ami import ubuntu_ami_name_pattern
from components.release_facts import CILIUM_CHART_IMAGES, KUBEADM_IMAGE_TAGS
from components.render import scripts
from components.render.smoke import AGNHOST_IMAGE
from components.settings import Architecture
from components.versions import RELEASES, Release, release_for
from tools.artifacts import (
    TABLE_PATH,
    UNLISTED,
    UNVERIFIED,
    VERIFIED,
    Artifact,
    Kind,
    check,
    cloud_config_text,
    collect,
    decode_file_content,
    inventory_document,
    load_table,
    parse_pins_table,
    parse_table,
    release_artifacts,
    script_urls,
    stack_document,
    summary_lines,
    write_artifacts,
)
from tools.offline.capture import SECRET_SIG, SECRET_SIG_KEY
from tools.offline.stackfiles import stack_config

EVERY_STACK = pytest.mark.parametrize("stack", STACKS)
EVERY_ROW = pytest.mark.parametrize("release", RELEASES, ids=[release.minor for release in RELEASES])
ARCHITECTURES = pytest.mark.parametrize("architecture", list(Architecture), ids=[a.value for a in Architecture])


@pytest.fixture(scope="module")
def table() -> dict:
    return load_table()


def names(artifacts: list[Artifact], kind: Kind) -> set[str]:
    return {artifact.name for artifact in artifacts if artifact.kind is kind}


def stack_release(stack: str) -> Release:
    return release_for(stack_config(stack)["k8s-dualstack-aws:kubernetesVersion"])


# --- the check: everything listed ------------------------------------------------------------


@EVERY_STACK
def test_every_artifact_of_every_shipped_stack_is_in_the_table(
    render_graph: RenderGraph, stack: str, table: dict
) -> None:
    result = check(collect(render_graph(stack)), table)
    assert result.ok, f"not in {TABLE_PATH.name}: {[a.key for a in result.unlisted]}"


@EVERY_ROW
@ARCHITECTURES
def test_every_artifact_of_every_matrix_row_is_in_the_table(
    release: Release, architecture: Architecture, table: dict
) -> None:
    result = check(release_artifacts(release, architecture), table)
    assert result.ok, f"not in {TABLE_PATH.name}: {[a.key for a in result.unlisted]}"


def test_an_artifact_missing_from_the_table_fails_the_check(render_graph: RenderGraph, table: dict) -> None:
    unknown = Artifact(Kind.IMAGE, "gcr.io/kuar-demo/kuard-amd64:blue", found_in=("test",))
    artifacts = [*collect(render_graph("dev")), unknown]
    result = check(artifacts, table)
    assert not result.ok and result.unlisted == (unknown,)
    document = inventory_document("dev", artifacts, table)
    assert document["unlisted"] == [unknown.name]
    assert any(unknown.name in line for line in summary_lines(document))


def test_a_listed_artifact_of_another_kind_does_not_count(table: dict) -> None:
    # The key is (kind, name): an image named like a listed chart is still unknown.
    chart = next(row for row in table.values() if row.kind == Kind.HELM_CHART.value)
    assert not check([Artifact(Kind.IMAGE, chart.name)], table).ok


def test_table_rows_are_unique_and_have_a_status_and_a_record(table: dict) -> None:
    assert table
    for row in table.values():
        assert row.kind in {kind.value for kind in Kind}
        assert row.status in (VERIFIED, UNVERIFIED) and row.record
        if row.status == UNVERIFIED:
            assert "look up" in row.record, f"{row.name}: an unverified row says what to look up"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("| image | `a:1` | maybe | x |", "allowed is verified or unverified"),
        ("| image | `a:1` | verified |", "expected 4"),
    ],
    ids=["bad-status", "missing-cell"],
)
def test_table_parser_refuses_malformed_rows(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_table(f"| kind | artefact | status | record |\n|---|---|---|---|\n{line}\n")


def test_table_parser_refuses_a_row_listed_twice() -> None:
    row = "| image | `a:1` | verified | r |"
    with pytest.raises(ValueError, match="twice"):
        parse_table(f"| kind | artefact | status | record |\n|---|---|---|---|\n{row}\n{row}\n")


def test_table_lists_nothing_no_stack_or_row_pulls(render_graph: RenderGraph, table: dict) -> None:
    pulled = {a.key for stack in STACKS for a in collect(render_graph(stack))}
    pulled |= {a.key for r in RELEASES for arch in Architecture for a in release_artifacts(r, arch)}
    assert set(table) - pulled == set(), "stale rows: drop them with the pin that made them"


# --- kubeadm's pins: matrix data and the page agree -------------------------------------------


def test_kubeadm_pins_cover_the_matrix_and_match_the_page() -> None:
    assert set(KUBEADM_IMAGE_TAGS) == {release.kubernetes_version for release in RELEASES}
    pins = parse_pins_table(TABLE_PATH.read_text())
    assert set(pins) == set(KUBEADM_IMAGE_TAGS)
    for version, tags in KUBEADM_IMAGE_TAGS.items():
        row = pins[version]
        assert (row.etcd, row.coredns, row.pause) == (tags.etcd, tags.coredns, tags.pause)
        assert row.status in (VERIFIED, UNVERIFIED)


@EVERY_ROW
def test_every_pinned_cilium_chart_names_its_images(release: Release) -> None:
    images = release.cilium_chart.images
    assert images == CILIUM_CHART_IMAGES[release.cilium_chart_version]
    assert all("@sha256:" in image for image in images), "the chart pulls by digest"
    assert any(f"/cilium:v{release.cilium_chart_version}@" in image for image in images)


# --- what is collected, and from where -------------------------------------------------------


@EVERY_STACK
def test_collects_every_kind_from_the_render(render_graph: RenderGraph, stack: str) -> None:
    release = stack_release(stack)
    artifacts = collect(render_graph(stack))
    images = names(artifacts, Kind.IMAGE)
    assert release.ccm_image in images
    assert set(release.cilium_chart.images) <= images
    assert (AGNHOST_IMAGE in images) == (stack_config(stack)["k8s-dualstack-aws:smokeWorkload"] == "true")
    assert names(artifacts, Kind.HELM_CHART) == {f"cilium {release.cilium_chart_version} from https://helm.cilium.io/"}
    tags = release.kubeadm_image_tags
    version = release.kubernetes_version
    assert {
        f"registry.k8s.io/kube-apiserver:v{version}",
        f"registry.k8s.io/kube-proxy:v{version}",
        f"registry.k8s.io/coredns/coredns:{tags.coredns}",
        f"registry.k8s.io/etcd:{tags.etcd}",
        f"registry.k8s.io/pause:{tags.pause}",
    } <= images
    packages = names(artifacts, Kind.APT_PACKAGE)
    assert packages and all(name.startswith(f"ubuntu-{release.ubuntu_release}/") for name in packages)
    (ami,) = names(artifacts, Kind.AMI)
    assert ubuntu_ami_name_pattern(release.ubuntu_release, Architecture.AMD64) in ami


@EVERY_STACK
def test_every_download_of_the_boot_script_is_collected_with_its_checksum(
    render_graph: RenderGraph, stack: str
) -> None:
    graph = render_graph(stack)
    binaries = {a.name: a for a in collect(graph) if a.kind is Kind.BINARY}
    assert len(binaries) == len(scripts.KUBERNETES_BINARIES) + 1  # + crictl
    nodes = graph.by_type("aws:ec2/instance:Instance") + graph.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(nodes) == int(stack_config(stack)["k8s-dualstack-aws:controlPlaneCount"]) + 1
    for record in nodes:
        text = cloud_config_text(record)
        assert text is not None, record.name
        files = {entry["path"]: decode_file_content(entry) for entry in yaml.safe_load(text)["write_files"]}
        urls = script_urls(files[scripts.BOOT_SCRIPT])
        assert urls and urls <= set(binaries), f"{record.name}: a download the inventory misses"
    for url, binary in binaries.items():
        assert binary.checksum == url + ".sha256"


def test_a_boot_url_outside_a_download_step_is_noticed() -> None:
    # script_urls is what the test above compares with: a new download step must be collected.
    script = "install_binary 'https://dl.k8s.io/x' x\ncurl -o y https://example.invalid/y\n"
    assert script_urls(script) == {"https://dl.k8s.io/x", "https://example.invalid/y"}


def test_user_data_is_read_plain_base64_or_gzipped(render_graph: RenderGraph) -> None:
    graph = render_graph("dev")
    record = next(r for r in graph.resources if r.type == "aws:ec2/instance:Instance")
    text = cloud_config_text(record)
    assert text is not None and text.startswith("#cloud-config")
    forms = {
        "plain": {"userData": text},
        "base64": {"userDataBase64": base64.b64encode(text.encode()).decode()},
        "gzip": {"userDataBase64": base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()},
    }
    for inputs in forms.values():
        assert cloud_config_text(replace(record, inputs=inputs)) == text


def test_user_data_that_is_unknown_or_secret_is_skipped(render_graph: RenderGraph) -> None:
    record = next(r for r in render_graph("dev").resources if r.type == "aws:ec2/instance:Instance")
    secret = {SECRET_SIG_KEY: SECRET_SIG, "value": "#cloud-config\npackages: [x]\n"}
    for raw in (rpc.UNKNOWN, secret):
        assert cloud_config_text(replace(record, inputs={"userData": raw})) is None


def test_preview_collects_without_unknown_values(render_graph: RenderGraph, table: dict) -> None:
    artifacts = collect(render_graph("dev", preview=True))
    assert all("[unknown]" not in artifact.name for artifact in artifacts)
    assert check(artifacts, table).ok


# --- the render output ------------------------------------------------------------------------


def test_render_writes_artifacts_json(render_graph: RenderGraph, tmp_path: Path, table: dict) -> None:
    graph = render_graph("dev")
    (path,) = write_artifacts(graph, tmp_path)
    document = json.loads(path.read_text())
    assert path.name == "artifacts.json" and document["stack"] == "dev"
    assert sum(document["counts"].values()) == len(document["artifacts"]) == len(collect(graph))
    assert document["unlisted"] == []
    assert document["kubeadmPins"] == {stack_release("dev").kubernetes_version: VERIFIED}
    assert all(entry["status"] != UNLISTED for entry in document["artifacts"])
    unverified = [entry["name"] for entry in document["artifacts"] if entry["status"] == UNVERIFIED]
    assert document["unverified"] == unverified
    # Deterministic: the same graph writes the same bytes.
    assert write_artifacts(graph, tmp_path / "again")[0].read_bytes() == path.read_bytes()


def test_summary_prints_the_unverified_count_and_names(render_graph: RenderGraph) -> None:
    document = stack_document(render_graph("dev"))
    lines = list(summary_lines(document))
    assert lines[0].startswith(f"artifacts: {len(document['artifacts'])} (")
    assert lines[1].strip().startswith(f"unverified: {len(document['unverified'])}")
    for name in document["unverified"]:
        assert any(line.strip() == f"- {name}" for line in lines)
