"""The repository stands alone and enforces its own standards.

A user's clone has nothing beside it: no file may read or cite a path outside the repository,
and the lint gate (`make lint`, pre-commit) must really judge formatting.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

# Spelled in parts so this file does not match its own patterns.
_PARENT = ".."
OUTSIDE_REFERENCES = [
    re.compile(re.escape(_PARENT + "/shared")),
    re.compile(r"shared" + r"/reference"),
    re.compile(r"ccm" + r"-facts\.md"),
]
# Absolute paths of a developer's or CI's machine (where this project was built). A node's own
# paths (/root/.kube/config written by the boot script) are not among them.
MACHINE_PATHS = [
    re.compile(r"(?<![\w.])/" + r"work/"),
    re.compile(r"(?<![\w.])/" + r"root/(\.cache|\.pyenv|go)/"),
    re.compile(r"(?<![\w.])/" + r"home/[a-z_][\w-]*/"),
    re.compile(r"(?<![\w.])/" + r"Users/"),
    re.compile(r"(?<![\w.])/" + r"tmp/pytest-of-"),
]
_FILE_PARENTS = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")


def tracked_files() -> list[Path]:
    """The files a clone has: git's list when this is a checkout, else every file but build output."""
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        listed = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]
    skipped = {".git", ".venv", "build", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return [p for p in ROOT.rglob("*") if p.is_file() and not skipped & set(p.relative_to(ROOT).parts)]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return None


def offending_lines(patterns: list[re.Pattern[str]]) -> list[str]:
    found = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(pattern.search(line) for pattern in patterns):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_the_scan_sees_the_whole_repository() -> None:
    names = {str(path.relative_to(ROOT)) for path in tracked_files()}
    assert {"README.md", "Makefile", ".ci/run", "components/versions.py", "docs/reference/ccm-images.md"} <= names
    assert not any(name.startswith((".venv/", "build/")) for name in names)


def test_no_file_reads_or_cites_a_path_outside_the_repository() -> None:
    assert offending_lines(OUTSIDE_REFERENCES) == []


def test_no_file_names_an_absolute_path_of_a_build_machine() -> None:
    assert offending_lines(MACHINE_PATHS) == []


@pytest.mark.parametrize(
    "line",
    [
        "FACTS = Path(__file__).resolve()." + "parents[2] / 'shared' / 'reference' / 'x.md'",
        "see " + _PARENT + "/shared/DESIGN.md",
        "cache = '/" + "work/main/.venv'",
        "open('/" + "root/.cache/k8s-dualstack-aws/bin/etcd')",
    ],
)
def test_the_patterns_catch_what_they_are_for(line: str) -> None:
    assert any(p.search(line) for p in OUTSIDE_REFERENCES + MACHINE_PATHS) or _FILE_PARENTS.search(line)


def test_no_python_file_climbs_above_the_repository_root() -> None:
    """`Path(__file__).resolve().parents[N]` with N at or past the file's depth leaves the clone."""
    escapes = []
    for path in tracked_files():
        if path.suffix != ".py":
            continue
        depth = len(path.relative_to(ROOT).parts) - 1
        for match in _FILE_PARENTS.finditer(path.read_text()):
            if int(match[1]) >= depth + 1:
                escapes.append(f"{path.relative_to(ROOT)}: parents[{match[1]}]")
    assert escapes == []


def test_every_reference_page_is_linked_from_the_index() -> None:
    reference = ROOT / "docs" / "reference"
    index = (reference / "README.md").read_text()
    pages = sorted(page.name for page in reference.glob("*.md") if page.name != "README.md")
    assert pages and all(f"]({page})" in index for page in pages), pages


def test_make_lint_checks_formatting_before_it_lints() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "lint"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    tools = ("ruff", "mypy", "yamllint")
    commands = [line.split(" -m ", 1)[1] for line in dry_run.splitlines() if " -m " in line]
    assert [command for command in commands if command.startswith(tools)] == [
        "ruff format --check --diff .",
        "ruff check .",
        "mypy",
        "yamllint --strict .",
    ]


def test_ruff_format_check_fails_on_an_unformatted_file(tmp_path: Path) -> None:
    """The same check `make lint` runs, with the project's settings, on a badly formatted copy."""
    ruff = ROOT / ".venv" / "bin" / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is installed by `make venv`")
    sample = tmp_path / "sample.py"
    sample.write_text("x = {  'a':1 }\n")
    config = ["--config", str(ROOT / "pyproject.toml")]
    failed = subprocess.run(
        [str(ruff), "format", "--check", *config, str(sample)], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1 and "would be reformatted" in failed.stdout
    subprocess.run([str(ruff), "format", *config, str(sample)], check=True, capture_output=True)
    passed = subprocess.run(
        [str(ruff), "format", "--check", *config, str(sample)], capture_output=True, text=True, check=False
    )
    assert passed.returncode == 0 and sample.read_text() == 'x = {"a": 1}\n'


def test_pre_commit_runs_the_lint_gate_tools_from_the_project_venv() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    entries = {hook["id"]: hook["entry"] for hook in repo["hooks"]}
    assert entries == {
        "ruff-format": ".venv/bin/python -m ruff format",
        "ruff-check": ".venv/bin/python -m ruff check --fix",
        "mypy": ".venv/bin/python -m mypy",
        "yamllint": ".venv/bin/python -m yamllint --strict",
    }
    pre_commit = ROOT / ".venv" / "bin" / "pre-commit"
    if pre_commit.exists():
        subprocess.run([str(pre_commit), "validate-config", ".pre-commit-config.yaml"], cwd=ROOT, check=True)
