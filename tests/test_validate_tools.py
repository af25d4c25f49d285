"""The validators find what they are there to find: each one run on a render we broke on purpose.

Parsers are tested on their own; the real tools run where installed (`make validate` installs
them all, and runs them on every stack's unbroken render).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import RenderGraph

from tools.render import write_all
from tools.validate import checkov, cloudinit, openssl, shellcheck, yamllint
from tools.validate.common import REPOSITORY, TOOLS_DIR, Finding, ToolResult
from tools.validate.report import summary_markdown, table


def _needs(tool: str, *candidates: Path) -> None:
    if not shutil.which(tool) and not any(path.is_file() for path in candidates):
        pytest.skip(f"{tool} is not installed (`make validate` installs it)")


@pytest.fixture(scope="module")
def dev_render(render_graph: RenderGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("render") / "dev"
    write_all(render_graph("dev"), directory)
    return directory


def _copy(render: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "dev"
    shutil.copytree(render, copy)
    return copy


def test_cloud_init_output_is_split_into_errors_and_deprecations() -> None:
    output = (
        "Cloud config schema deprecations: apt_update: DEPRECATED: Dropped after April 2027., "
        "users.0.sudo: DEPRECATED: use null\nError:\nCloud config schema errors: packages: 5 is not of "
        "type 'array', write_files.0: 'path' is a required property\n"
    )
    assert cloudinit.problems(output) == [
        "deprecation: apt_update: DEPRECATED: Dropped after April 2027.",
        "deprecation: users.0.sudo: DEPRECATED: use null",
        "error: packages: 5 is not of type 'array'",
        "error: write_files.0: 'path' is a required property",
    ]
    assert cloudinit.problems("Cloud config schema deprecations: \nValid cloud-config: x.yaml") == []


def test_shell_scripts_are_found_in_runcmd_and_written_files(dev_render: Path) -> None:
    user_data = dev_render / "userdata" / "dev-control-plane-node.yaml"
    found = {script.name.rsplit(":", 1)[-1]: script for script in shellcheck.scripts(user_data)}
    # The control plane's bootcmd waits for its Elastic IP; the Python fetcher is no script.
    assert set(found) == {"bootcmd", "runcmd", "/usr/local/lib/k8s-bootstrap/bootstrap.sh"}
    assert "meta-data/public-ipv4" in found["bootcmd"].text
    assert found["runcmd"].text == "#!/bin/sh\nbash /usr/local/lib/k8s-bootstrap/bootstrap.sh\n"
    assert found["/usr/local/lib/k8s-bootstrap/bootstrap.sh"].shell == "bash"


def test_shellcheck_reports_warnings_in_a_written_script(dev_render: Path, tmp_path: Path) -> None:
    _needs("shellcheck")
    broken = _copy(dev_render, tmp_path)
    user_data = sorted((broken / "userdata").glob("*.yaml"))[0]
    document = yaml.safe_load(user_data.read_text())
    script = next(f for f in document["write_files"] if f["path"].endswith(".sh"))
    script["content"] = script["content"].replace("umask 022\n", 'umask 022\nlog "$work_dir_typo"\n')
    user_data.write_text("#cloud-config\n" + yaml.safe_dump(document))
    codes = {f.message.split()[0] for f in shellcheck.check("dev", broken).findings}
    assert "SC2154" in codes, codes  # referenced but never assigned


def test_cloud_init_reports_a_wrong_type_and_a_deprecated_key(dev_render: Path, tmp_path: Path) -> None:
    _needs("cloud-init")
    broken = _copy(dev_render, tmp_path)
    user_data = sorted((broken / "userdata").glob("*.yaml"))[0]
    user_data.write_text(
        user_data.read_text()
        .replace("package_update: true", "apt_update: true\npackages: 5", 1)
        .replace("packages:\n- ca-certificates", "other:\n- ca-certificates", 1)
    )
    messages = [f.message for f in cloudinit.check("dev", broken).findings]
    assert any(m.startswith("error: packages") for m in messages), messages
    assert any(m.startswith("deprecation: apt_update") for m in messages), messages


def test_openssl_reports_a_wrong_issuer_and_a_wrong_validity(dev_render: Path, tmp_path: Path) -> None:
    _needs("openssl")
    assert openssl.check("dev", dev_render).findings == []
    broken = _copy(dev_render, tmp_path)
    shutil.copy(broken / "pki" / "dev-front-proxy-client.crt", broken / "pki" / "dev-admin.crt")
    documents = json.loads((broken / "resources.json").read_text())
    ca = next(d for d in documents if d["name"] == "dev-etcd-ca" and d["type"] == openssl.SELF_SIGNED)
    ca["inputs"]["validityPeriodHours"] = 1.0
    (broken / "resources.json").write_text(json.dumps(documents))
    messages = [f"{f.location}: {f.message}" for f in openssl.check("dev", broken).findings]
    assert any("dev-admin.crt: openssl verify against dev-ca" in m for m in messages), messages
    assert any("dev-etcd-ca.crt: valid for" in m for m in messages), messages


def test_yamllint_reports_a_bad_manifest(dev_render: Path, tmp_path: Path) -> None:
    _needs("yamllint")
    broken = _copy(dev_render, tmp_path)
    (broken / "manifests" / "configmap-x.yaml").write_text("a: 1\na: 2\nb:   [1,2]\n")
    messages = [f.message for f in yamllint.check("dev", broken).findings]
    assert any("duplication of key" in m for m in messages) and any(
        "commas" in m or "brackets" in m for m in messages
    ), messages


def test_checkov_reports_a_privileged_pod(dev_render: Path, tmp_path: Path) -> None:
    _needs("checkov", checkov.CHECKOV, TOOLS_DIR / "checkov" / "bin" / "checkov")
    broken = tmp_path / "dev"
    (broken / "manifests").mkdir(parents=True)
    (broken / "manifests" / "pod-default-bad.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  containers:\n"
        "  - name: bad\n    image: busybox:1.36\n    securityContext:\n      privileged: true\n"
    )
    result = checkov.check("dev", broken)
    assert result.error is None, result.error
    assert any(f.message.startswith("CKV_K8S_16 ") for f in result.findings), result.findings


def test_summary_table_shows_findings_errors_and_what_does_not_apply() -> None:
    results = [
        ToolResult("shellcheck", "dev", checked=3, findings=[Finding("x.yaml:runcmd:2", "SC2154 (warning): ...")]),
        ToolResult("shellcheck", "k8s-1-35", checked=3),
        ToolResult("actionlint", REPOSITORY, error="go is not installed"),
    ]
    lines = table(results, ["shellcheck", "actionlint"], ["dev", "k8s-1-35"]).splitlines()
    assert lines[0].split() == ["tool", "dev", "k8s-1-35", REPOSITORY]
    assert lines[2].split() == ["shellcheck", "1", "/", "3", "0", "/", "3", "-"]
    assert lines[3].split() == ["actionlint", "-", "-", "error"]
    markdown = summary_markdown(results, ["shellcheck", "actionlint"], ["dev", "k8s-1-35"], {}, 1.0)
    assert "- `x.yaml:runcmd:2`: SC2154 (warning): ..." in markdown and "go is not installed" in markdown
