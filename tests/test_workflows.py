"""The GitHub workflows: actionlint-clean, and wired as pull-request review and gated deployment need."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, STACKS

WORKFLOWS = ROOT / ".github" / "workflows"
INSTALLER = ROOT / "tools" / "install_actionlint.sh"
PULUMI_ACTION = "pulumi/actions@v6"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    if shutil.which("go") is None:
        pytest.skip("go is not installed: actionlint is built from the Go module proxy")
    result = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def run_actionlint(actionlint: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    files = sorted(str(path) for path in (cwd / ".github" / "workflows").glob("*.yml"))
    return subprocess.run(
        [str(actionlint), "-no-color", *files], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def test_workflows_pass_actionlint(actionlint: Path) -> None:
    assert {path.name for path in WORKFLOWS.glob("*.yml")} == {"preview.yml", "deploy.yml", "pulumi-stacks.yml"}
    result = run_actionlint(actionlint, ROOT)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_actionlint_catches_a_wrong_input_of_the_pulumi_action(actionlint: Path, tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    broken = tmp_path / ".github" / "workflows" / "pulumi-stacks.yml"
    broken.write_text(broken.read_text().replace("policyPacks: policies", "policyPack: policies"))
    result = run_actionlint(actionlint, tmp_path)
    assert result.returncode == 1 and 'input "policyPack" is not defined in action "pulumi/actions@v6"' in result.stdout


def test_installer_is_idempotent(actionlint: Path) -> None:
    before = actionlint.stat().st_mtime_ns
    again = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=60, check=True)
    assert Path(again.stdout.strip()) == actionlint and actionlint.stat().st_mtime_ns == before


def test_preview_runs_on_pull_requests_and_may_comment() -> None:
    workflow = load("preview.yml")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    (job,) = workflow["jobs"].values()
    assert job["uses"] == "./.github/workflows/pulumi-stacks.yml"
    assert job["with"] == {"command": "preview", "environment": "preview"}
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}


def test_deploy_runs_on_main_behind_the_production_environment() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (job,) = workflow["jobs"].values()
    assert job["with"] == {"command": "up", "environment": "production"}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_each_stack_runs_the_pulumi_action_with_the_pack_after_installing_python() -> None:
    workflow = load("pulumi-stacks.yml")
    job = workflow["jobs"]["pulumi"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["needs"] == ["tests", "offline", "stacks"]
    assert job["strategy"]["matrix"] == {"stack": "${{ fromJSON(needs.stacks.outputs.stacks) }}"}
    steps = job["steps"]
    names = [step.get("uses") or step.get("name") for step in steps]
    pulumi = names.index(PULUMI_ACTION)
    install = names.index("Install the program's and the policy pack's Python dependencies")
    config = names.index("Policy pack config of the stack (admin CIDRs, cluster tag)")
    assert install < config < pulumi
    assert "policies/venv/bin/pip install --quiet -r policies/requirements.txt" in steps[install]["run"]
    assert "-m tools.policy_report config" in steps[config]["run"]
    assert steps[pulumi]["with"] | {"stack-name": None} == {
        "command": "${{ inputs.command }}",
        "stack-name": None,
        "work-dir": ".",
        "policyPacks": "policies",
        "policyPackConfigs": "build/policy-config.json",
        "comment-on-pr": "${{ inputs.command == 'preview' }}",
        "github-token": "${{ secrets.GITHUB_TOKEN }}",
        "diff": True,
    }
    assert "matrix.stack" in steps[pulumi]["with"]["stack-name"]
    assert workflow["jobs"]["offline"]["steps"][2]["run"] == "make render-all"


def test_every_preview_and_deployment_waits_for_the_readme_test_command() -> None:
    """The tests job runs exactly what the README's quick start and .ci/run run."""
    workflow = load("pulumi-stacks.yml")
    readme_test_command = "make test"
    assert f"\n{readme_test_command}\n" in (ROOT / "README.md").read_text()
    assert readme_test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    (test_step,) = [step for step in workflow["jobs"]["tests"]["steps"] if "run" in step]
    assert test_step["run"] == readme_test_command
    assert "tests" in workflow["jobs"]["pulumi"]["needs"]
    # The job has no cloud access: it must not need any secret or OIDC token.
    assert workflow["jobs"]["tests"]["permissions"] == {"contents": "read"}


@pytest.mark.skipif(shutil.which("jq") is None, reason="the listing step uses jq (present on GitHub runners)")
def test_the_matrix_is_every_stack_file(tmp_path: Path) -> None:
    (step,) = load("pulumi-stacks.yml")["jobs"]["stacks"]["steps"][1:]
    output = tmp_path / "output"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        check=True,
        timeout=30,
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
    )
    assert output.read_text() == "stacks=" + "[" + ",".join(f'"{stack}"' for stack in sorted(STACKS)) + "]\n"
