"""The kubeadm validator: the real kubeadm finds a broken configuration, and says where.

The tests that run kubeadm use the binaries `make validate` (or the e2e build) left in the cache
and skip, saying so, when there are none: building kubeadm takes minutes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.render.bootstrap import PLACEHOLDER_VARIABLES
from components.versions import RELEASES, KubeadmApi, Version, newest, release_for
from tools.validate import kubeadm
from tools.validate.common import ToolResult
from tools.validate.kubeadm_build import CI_VERSIONS, Kubeadm, _staging_modules, cached

# kubeadm's bootstrap token shape (k8s.io/cluster-bootstrap/token/api: BootstrapTokenPattern).
TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


def _kubeadm(version: str) -> Kubeadm:
    found = cached(version)
    if found is None:
        pytest.skip(f"kubeadm v{version} is not built (`python -m tools.validate.kubeadm --build` builds it)")
    return found


def _files(minor: str) -> dict[str, kubeadm.KubeadmFile]:
    return {file.label.rsplit(" ", 1)[-1]: file for file in kubeadm.row_files(release_for(minor))}


def _edit(file: kubeadm.KubeadmFile, kind: str, change: Callable[[dict[str, Any]], None]) -> kubeadm.KubeadmFile:
    documents = list(yaml.safe_load_all(file.text))
    change(next(doc for doc in documents if doc["kind"] == kind))
    return dataclasses.replace(file, text=yaml.safe_dump_all(documents, sort_keys=False))


def _judge(files: list[kubeadm.KubeadmFile], kubeadms: list[Kubeadm]) -> ToolResult:
    result = ToolResult(kubeadm.TOOL, "test")
    kubeadm.judge(files, kubeadms, result)
    return result


# --- without kubeadm ----------------------------------------------------------------------------


def test_every_boot_placeholder_gets_a_value_of_the_right_shape() -> None:
    assert set(kubeadm.PLACEHOLDER_VALUES) == set(PLACEHOLDER_VARIABLES)
    assert TOKEN.match(kubeadm.PLACEHOLDER_VALUES["BOOTSTRAP_TOKEN"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", kubeadm.CA_CERT_HASH)
    assert kubeadm.substitute("name: ${NODE_NAME}") == f"name: {kubeadm.PLACEHOLDER_VALUES['NODE_NAME']}"
    with pytest.raises(ValueError, match=r"\$\{CLUSTER_SECRET\}"):
        kubeadm.substitute("token: ${CLUSTER_SECRET}")


@pytest.mark.parametrize("release", RELEASES, ids=lambda release: release.minor)
def test_every_row_renders_init_and_both_joins_in_the_production_shape(release: Any) -> None:
    files = {file.label.rsplit(" ", 1)[-1]: file for file in kubeadm.row_files(release)}
    assert {role: file.kinds for role, file in files.items()} == {
        "init": ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"],
        "join-control-plane": ["JoinConfiguration", "KubeletConfiguration"],
        "join": ["JoinConfiguration", "KubeletConfiguration"],
    }
    for file in files.values():
        assert "${" not in file.text
        assert f"apiVersion: {release.kubeadm_api.value}" in file.text
    join = next(yaml.safe_load_all(files["join-control-plane"].text))
    assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == kubeadm.PLACEHOLDER_VALUES["NODE_IPV4"]
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"].endswith(".amazonaws.com:6443")  # the NLB


def test_which_kubeadm_reads_which_api() -> None:
    # kubeadm's own table (app/util/config/common.go): v1beta2 deprecated in 1.26, refused from 1.27.
    assert Kubeadm(Version(1, 26, 15), Path("k")).reads(KubeadmApi.V1BETA2)
    assert not Kubeadm(Version(1, 27, 16), Path("k")).reads(KubeadmApi.V1BETA2)
    assert Kubeadm(Version(1, 35, 3), Path("k")).reads(KubeadmApi.V1BETA3)
    assert not Kubeadm(Version(1, 30, 14), Path("k")).reads(KubeadmApi.V1BETA4)
    assert not Kubeadm(Version(1, 27, 16), Path("k")).has_validate
    assert Kubeadm(Version(1, 28, 0), Path("k")).has_validate
    k135 = Kubeadm(Version(1, 35, 3), Path("k"))
    assert k135.accepts_control_plane(Version(1, 34, 6)) and not k135.accepts_control_plane(Version(1, 33, 13))


def test_a_row_goes_to_its_own_kubeadm_else_the_newest_reader() -> None:
    k121, k135 = (Kubeadm(Version.parse(v), Path("k")) for v in ("1.21.14", "1.35.3"))
    assert kubeadm.choose(release_for("1.21"), [k135, k121]) is k121
    assert kubeadm.choose(release_for("1.25"), [k135, k121]) is k135
    assert kubeadm.choose(release_for("1.21"), [k135]) is None
    assert set(CI_VERSIONS) == {newest().kubernetes_version, "1.21.14"}


def test_staging_modules_are_read_from_the_kubernetes_go_mod() -> None:
    go_mod = "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n"
    assert _staging_modules(go_mod + "replace k8s.io/kubelet => ./staging/src/k8s.io/kubelet\n") == [
        "k8s.io/api",
        "k8s.io/kubelet",
    ]


# --- with the real kubeadm ----------------------------------------------------------------------


def test_kubeadm_accepts_the_unbroken_rows_it_is_given() -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    result = _judge([*_files("1.35").values(), *_files("1.30").values()], [k135])
    assert (result.findings, result.checked) == ([], 6)
    assert any("read kubernetesVersion as its own in: release 1.30.14 init" in note for note in result.notes)


def test_an_unknown_field_fails_with_the_row_the_kind_and_kubeadms_text() -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    broken = _edit(_files("1.35")["init"], "ClusterConfiguration", lambda doc: doc.update(notAField=1))
    result = _judge([broken], [k135])
    assert result.failed
    [finding] = result.findings
    assert finding.location == "release 1.35.3 init (ClusterConfiguration)"
    assert 'unknown field "notAField"' in finding.message and finding.message.startswith("kubeadm v1.35.3:")


def test_a_bad_pod_subnet_is_blamed_on_the_cluster_configuration() -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    broken = _edit(
        _files("1.31")["init"], "ClusterConfiguration", lambda doc: doc["networking"].update(podSubnet="10.244.0.0/33")
    )
    [finding] = _judge([broken], [k135]).findings
    assert finding.location == "release 1.31.14 init (ClusterConfiguration)"
    assert "networking.podSubnet" in finding.message and "10.244.0.0/33" in finding.message


def test_a_bad_kubelet_document_is_blamed_on_it() -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    broken = _edit(_files("1.35")["init"], "KubeletConfiguration", lambda doc: doc.update(cgroupDriverz="systemd"))
    [finding] = _judge([broken], [k135]).findings
    assert finding.location == "release 1.35.3 init (KubeletConfiguration)"
    assert "cgroupDriverz" in finding.message


def test_a_bad_join_token_fails_the_control_plane_join() -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    broken = _edit(
        _files("1.22")["join-control-plane"],
        "JoinConfiguration",
        lambda doc: doc["discovery"]["bootstrapToken"].update(token="not-a-token"),
    )
    [finding] = _judge([broken], [k135]).findings
    assert finding.location == "release 1.22.17 join-control-plane (JoinConfiguration)"
    assert "token" in finding.message


def test_the_old_api_is_refused_by_the_newest_kubeadm(tmp_path: Path) -> None:
    k135 = _kubeadm(newest().kubernetes_version)
    old = _files("1.21")["join"]
    problem, _ = kubeadm.run_kubeadm(k135, old.text, tmp_path)
    assert problem is not None and "old API spec" in problem and "v1beta2" in problem
    assert "no built kubeadm reads kubeadm.k8s.io/v1beta2" in _judge([old], [k135]).findings[0].message


def test_kubeadm_1_21_migrate_logs_strict_errors_and_they_count() -> None:
    k121 = _kubeadm("1.21.14")
    files = _files("1.21")
    assert _judge(list(files.values()), [k121]).findings == []
    broken = _edit(files["init"], "ClusterConfiguration", lambda doc: doc.update(notAField=1))
    [finding] = _judge([broken], [k121]).findings
    assert finding.location == "release 1.21.14 init (ClusterConfiguration)"
    assert 'unknown field "notAField"' in finding.message
