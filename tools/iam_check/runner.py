"""Evaluate simulations with tools/iam_sim/simulate.mjs: one node process per batch, or one
long-lived process answering one simulation at a time (`SimulatorSession`, its `--lines` mode).

`make iam-sim-deps` (a Makefile stamp, also a prerequisite of `make validate` and `make unit`)
installs the pinned simulator with `npm ci --prefix tools/iam_sim`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

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


class SimulatorSession:
    """One node process in line mode: `simulate_one` writes a simulation and reads its result.

    For callers that judge requests one at a time as they arrive (the e2e tier's enforcing AWS
    proxy): node and the simulator's data load once, so a request costs the evaluation only.
    Thread-safe (one request at a time); `close` ends the process (also on leaving a `with`)."""

    def __init__(self, timeout: float = 60) -> None:
        simulator_version()
        self._timeout = timeout
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [node_executable(), str(SCRIPT), "--lines"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=SIM_DIR,
            bufsize=1,
        )

    def simulate_one(self, simulation: Simulation) -> SimResult:
        line = json.dumps(simulation.to_json())
        with self._lock:
            process = self._process
            if process.stdin is None or process.stdout is None or process.poll() is not None:
                raise RuntimeError(f"{SCRIPT.name} --lines is not running (exit {process.poll()})")
            process.stdin.write(line + "\n")
            process.stdin.flush()
            answer = process.stdout.readline()
        if not answer:
            stderr = process.stderr.read()[-2000:] if process.stderr and process.poll() is not None else ""
            raise RuntimeError(f"{SCRIPT.name} --lines ended without an answer: {stderr}")
        result = SimResult.from_json(json.loads(answer))
        if result.id != simulation.id:
            raise RuntimeError(f"{SCRIPT.name} --lines answered {result.id!r} for {simulation.id!r}")
        return result

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(self._timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(self._timeout)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    stop = close

    def __enter__(self) -> SimulatorSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
