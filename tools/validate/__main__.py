"""`make validate`: render every stack, then judge what was rendered with tools we did not write.

    python -m tools.validate [--stack NAME ...] [--no-render] [--tool NAME ...]

checkov, shellcheck, cloud-init, kubeadm, yamllint and openssl over each stack's render, moto as the AWS
API for its plan, parliament over its IAM policy documents, the IAM simulation tier
(tools/iam_check: @cloud-copilot/iam-simulate judging what each node role may do), yamllint and
actionlint over the repository's own YAML, kubeadm over every release row's configurations
(tools/validate/kubeadm.py). Prints a table
(tool x stack -> findings / things checked), writes it with every finding to
build/validate/summary.md, and exits 1 on any finding or any tool that could not run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from tools.offline.stackfiles import REPO_ROOT, list_stacks
from tools.validate import actionlint, aws, checkov, cloudinit, iam, kubeadm, openssl, parliament, shellcheck, yamllint
from tools.validate.common import RENDER_DIR, REPOSITORY, VALIDATE_DIR, ToolMissing, ToolResult
from tools.validate.report import summary_markdown, table

StackCheck = Callable[[str, Path], ToolResult]
RepositoryCheck = Callable[[], ToolResult]

STACK_TOOLS: dict[str, StackCheck] = {
    "checkov": checkov.check,
    "shellcheck": shellcheck.check,
    "cloud-init": cloudinit.check,
    "kubeadm": kubeadm.check,
    "yamllint": yamllint.check,
    "openssl": openssl.check,
    "moto": aws.check,
    "parliament": parliament.check,
    "iam-sim": iam.check,
}
REPOSITORY_TOOLS: dict[str, RepositoryCheck] = {
    "yamllint": yamllint.check_repository,
    "actionlint": actionlint.check_repository,
    "kubeadm": kubeadm.check_repository,
}
VERSIONS: dict[str, Callable[[], str]] = {
    "checkov": checkov.version,
    "shellcheck": shellcheck.version,
    "cloud-init": cloudinit.version,
    "kubeadm": kubeadm.version,
    "yamllint": yamllint.version,
    "actionlint": actionlint.version,
    "openssl": openssl.version,
    "moto": aws.version,
    "parliament": parliament.version,
    "iam-sim": iam.version,
}
TOOL_ORDER = [
    "checkov",
    "shellcheck",
    "cloud-init",
    "kubeadm",
    "yamllint",
    "actionlint",
    "openssl",
    "moto",
    "parliament",
    "iam-sim",
]


def _guarded(tool: str, stack: str, job: Callable[[], ToolResult]) -> ToolResult:
    """A tool's result, or an error result when it could not run at all."""
    try:
        return job()
    except ToolMissing as error:
        return ToolResult(tool, stack, error=str(error))
    except subprocess.TimeoutExpired as error:
        return ToolResult(tool, stack, error=f"timed out after {error.timeout}s: {error.cmd}")
    except Exception as error:  # report it in the table; the traceback goes to stderr
        traceback.print_exc()
        return ToolResult(tool, stack, error=f"{type(error).__name__}: {error}")


def render(stacks: Sequence[str]) -> ToolResult:
    """The offline render of the stacks into build/render (`make render`)."""
    result = ToolResult("render", "all", checked=len(stacks))
    targets = [["--all"]] if list(stacks) == list_stacks() else [["--stack", stack] for stack in stacks]
    for target in targets:
        completed = subprocess.run(
            [sys.executable, "-m", "tools.render", *target],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if completed.returncode != 0:
            result.error = (
                f"render {' '.join(target)} exited {completed.returncode}: "
                + (completed.stderr or completed.stdout)[-3000:]
            )
    return result


def run_all(stacks: Sequence[str], tools: Sequence[str], workers: int) -> list[ToolResult]:
    jobs: list[tuple[str, str, Callable[[], ToolResult]]] = []
    for tool in tools:
        if tool in STACK_TOOLS:
            jobs += [(tool, stack, partial(STACK_TOOLS[tool], stack, RENDER_DIR / stack)) for stack in stacks]
        if tool in REPOSITORY_TOOLS:
            jobs.append((tool, REPOSITORY, REPOSITORY_TOOLS[tool]))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # every job mostly waits on a child process
        futures = [pool.submit(_guarded, tool, stack, job) for tool, stack, job in jobs]
        return [future.result() for future in futures]


def versions(tools: Sequence[str]) -> dict[str, str]:
    found = {}
    for tool in tools:
        try:
            found[tool] = VERSIONS[tool]()
        except Exception as error:  # a missing tool is already an error row
            found[tool] = f"unavailable ({error})"
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.validate", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stack", action="append", help="only this stack (repeatable; default: every stack)")
    parser.add_argument("--tool", action="append", choices=TOOL_ORDER, help="only this tool (repeatable)")
    parser.add_argument("--no-render", action="store_true", help="judge the existing build/render")
    parser.add_argument("--out", type=Path, default=VALIDATE_DIR, help="where summary.md goes")
    args = parser.parse_args(argv)
    stacks = args.stack or list_stacks()
    tools = [tool for tool in TOOL_ORDER if not args.tool or tool in args.tool]

    started = time.monotonic()
    results = []
    if not args.no_render:
        rendered = render(stacks)
        if rendered.error:
            print(rendered.error, file=sys.stderr)
            results.append(rendered)
    if not results:
        results = run_all(stacks, tools, workers=max(2, os.cpu_count() or 2))
    elapsed = time.monotonic() - started
    text = table(results, tools, stacks)
    print(text)
    iam_table = iam.table(stacks) if iam.TOOL in tools else ""
    if iam_table:
        print(f"\nIAM simulation tier (python -m tools.iam_check):\n{iam_table}")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "summary.md"
    markdown = summary_markdown(results, tools, stacks, versions(tools), elapsed)
    if iam_table:
        markdown += f"\n## IAM simulation tier\n\n```\n{iam_table}\n```\n"
    summary.write_text(markdown, encoding="utf-8")
    failed = [r for r in results if r.failed]
    for result in failed:
        for finding in result.findings[:20]:
            print(f"{result.tool} [{result.stack}] {finding.location}: {finding.message}", file=sys.stderr)
        if result.error:
            print(f"{result.tool} [{result.stack}] could not run: {result.error}", file=sys.stderr)
    print(
        f"{'FAILED' if failed else 'passed'}: {sum(len(r.findings) for r in results)} findings, "
        f"{sum(r.error is not None for r in results)} tool errors in {elapsed:.0f}s; details in {summary}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
