"""Evaluate simulations with tools/iam_sim/simulate.mjs: one node process per batch.

`make iam-sim-deps` (a Makefile stamp, also a prerequisite of `make validate` and `make unit`)
installs the pinned simulator with `npm ci --prefix tools/iam_sim`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tools.iam_check.model import SimResult, Simulation

SIM_DIR = Path(__file__).resolve().parents[1] / "iam_sim"
SCRIPT = SIM_DIR / "simulate.mjs"
PACKAGE = SIM_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"
TIMEOUT_SECONDS = 600


class SimulatorMissing(RuntimeError):
    """node or the simulator's node_modules is not installed."""


def node_executable() -> str:
    found = shutil.which("node")
    if not found:
        raise SimulatorMissing("node is not installed (the IAM simulator runs on Node.js 20)")
    return found


def run_node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False, timeout=30).stdout.strip()


def simulator_version() -> str:
    if not PACKAGE.is_file():
        raise SimulatorMissing(f"{PACKAGE.parent} is missing: run `make iam-sim-deps` (npm ci --prefix tools/iam_sim)")
    return str(json.loads(PACKAGE.read_text(encoding="utf-8"))["version"])


def ensure_installed() -> str:
    """The simulator's version, installing it first with the Makefile's stamp (`make iam-sim-deps`,
    i.e. `npm ci --prefix tools/iam_sim`) when node_modules is missing. Needs node (and npm)."""
    node_executable()
    if not PACKAGE.is_file():
        make = shutil.which("make")
        command = (
            [make, "-s", "iam-sim-deps"]
            if make
            else [shutil.which("npm") or "npm", "ci", "--prefix", str(SIM_DIR), "--no-audit", "--no-fund"]
        )
        completed = subprocess.run(
            command, cwd=SIM_DIR.parents[1], capture_output=True, text=True, check=False, timeout=TIMEOUT_SECONDS
        )
        if completed.returncode != 0:
            raise SimulatorMissing(f"{' '.join(command)} failed: {(completed.stderr or completed.stdout)[-2000:]}")
    return simulator_version()


def simulate(simulations: Sequence[Simulation], timeout: int = TIMEOUT_SECONDS) -> list[SimResult]:
    """One result per simulation, in order. Raises if the runner fails or answers out of step."""
    if not simulations:
        return []
    simulator_version()
    payload = json.dumps([simulation.to_json() for simulation in simulations])
    completed = subprocess.run(
        [node_executable(), str(SCRIPT)],
        input=payload,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=SIM_DIR,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} exited {completed.returncode}: {completed.stderr[-2000:]}")
    results = [SimResult.from_json(json.loads(line)) for line in completed.stdout.splitlines() if line.strip()]
    expected = [simulation.id for simulation in simulations]
    if [result.id for result in results] != expected:
        raise RuntimeError(f"{SCRIPT.name} answered {len(results)} results for {len(expected)} simulations")
    return results
