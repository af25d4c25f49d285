"""`build/e2e/report.json`: the run's environment, each case's result, and the lines printed as it goes.

The report holds the stack, the release and binaries run, the replayed instances and kubeadm's API
server command, then one entry per case: whether it passed, its problems and decisive log lines,
the paths of its CCM and API server logs and of its AWS calls (with their summary), the CCM's
command line and secure-port answers, the Service of a load balancer case and the Node objects
read back from the API server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from e2e.build import BUILDS, UNBUILDABLE
from e2e.cases import Case
from e2e.environment import Environment

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "build" / "e2e"


def new_report(stack: str) -> dict[str, Any]:
    return {"stack": stack, "cases": []}


def environment_report(env: Environment) -> dict[str, Any]:
    """What every case ran with: the release, the binaries, the instances, kubeadm's command."""
    return {
        "release": env.release.minor,
        "kubernetes_version": env.binaries.kubernetes_version,
        "ccm_version": env.binaries.ccm_version,
        "build_note": env.binaries.note,
        "unbuildable_releases": UNBUILDABLE,
        "buildable_releases": sorted(BUILDS),
        "instances": [instance.__dict__ for instance in env.instances],
        "kubeadm_api_server_command": env.kubeadm_command,
    }


def case_result(
    case: Case,
    *,
    passed: bool,
    ccm_log: Path,
    api_server_log: Path,
    ccm_exit_code: int | None,
    wait_outcome: str,
    seconds: float,
    ccm_command: list[str],
    problems: list[str],
    decisive_log_lines: list[str],
    authentication: dict[str, Any],
    ccm_secure_port: dict[str, int | str],
    aws_calls: Path,
    aws_calls_summary: dict[str, Any],
    service: dict[str, Any] | None,
    nodes: list[dict[str, Any]],
) -> dict[str, Any]:
    """A case that ran, as the report holds it."""
    return {
        "name": case.name,
        "expect": case.expect,
        "passed": passed,
        "description": case.description,
        "ccm_log": str(ccm_log),
        "api_server_log": str(api_server_log),
        "ccm_exit_code": ccm_exit_code,
        "wait_outcome": wait_outcome,
        "seconds": round(seconds, 1),
        "ccm_command": ccm_command,
        "problems": problems,
        "decisive_log_lines": decisive_log_lines,
        "extension_apiserver_authentication_keys": sorted(authentication.get("data", {})),
        "ccm_secure_port": ccm_secure_port,
        "aws_calls": str(aws_calls),
        "aws_calls_summary": aws_calls_summary,
        **({"service": service} if service is not None else {}),
        "nodes": nodes,
    }


def could_not_run(case: Case, error: Exception, out_dir: Path) -> dict[str, Any]:
    """A case that could not run is a failed case, not a crash."""
    return {
        "name": case.name,
        "expect": case.expect,
        "passed": False,
        "seconds": 0,
        "ccm_log": str(out_dir / case.name / "ccm.log"),
        "nodes": [],
        "problems": [f"the case could not run: {type(error).__name__}: {error}"],
        "decisive_log_lines": [],
    }


def print_case(result: dict[str, Any]) -> None:
    verdict = "ok" if result["passed"] else "NOT OK"
    print(f"e2e: {result['name']}: {verdict} in {result['seconds']}s; log {result['ccm_log']}", flush=True)
    for line in result["decisive_log_lines"][:3]:
        print(f"    {line[:240]}")
    for problem in result["problems"]:
        print(f"    problem: {problem}")


def write_report(path: Path, report: dict[str, Any], started: float) -> None:
    report["seconds"] = round(time.monotonic() - started, 1)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def summarise(path: Path, report: dict[str, Any]) -> int:
    """Print the totals; the exit code (0: at least one case ran and every case passed)."""
    passed = sum(1 for result in report["cases"] if result["passed"])
    failed = len(report["cases"]) - passed
    print(f"e2e: report {path}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and report["cases"] else 1
