"""Run commands in fresh interpreters and measure each: wall time, CPU time, peak RSS.

Every sample is its own process, reaped with `os.wait4` by a minimal launcher (see `LAUNCHER`),
so its rusage (peak RSS, user + system CPU) is that child's alone. Samples of all configurations
are interleaved (round-robin per repetition) so a burst of load from other work on the machine
hits them all alike; the 1-minute load average is recorded with each sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.offline.stackfiles import REPO_ROOT

IMPORT_FLOOR = "import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_tls, pulumi_random"


@dataclass(frozen=True)
class Config:
    """One thing to measure: a label and the argv after the interpreter."""

    label: str
    argv: tuple[str, ...]
    group: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Sample:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    load_1m: float
    payload: dict[str, Any]
    """The child's JSON (stack runs), else empty."""


class ChildError(RuntimeError):
    pass


def python_config(label: str, code: str, group: str = "floor") -> Config:
    return Config(label, ("-c", code), group)


def program_config(
    stack: str,
    mode: str,
    overrides: dict[str, object] | None = None,
    *,
    label: str | None = None,
    group: str = "stack",
    control_planes: int | None = None,
) -> Config:
    argv = (
        "-m",
        "tools.bench.child",
        "--stack",
        stack,
        "--mode",
        mode,
        "--overrides",
        json.dumps(overrides or {}, sort_keys=True),
    )
    meta = {"stack": stack, "mode": mode, "overrides": overrides or {}, "control_planes": control_planes}
    return Config(label or f"{stack} {mode}", argv, group, meta)


# The parent may be large (it imports Pulumi to model the graphs), and Linux carries a parent's
# peak RSS into a forked child's `ru_maxrss`. A minimal launcher (`-I -S`: no site, ~8 MiB)
# forks the measured command instead, reaps it with `os.wait4` and writes its rusage as JSON.
LAUNCHER = """\
import json, os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(result, "w") as handle:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
               "exit": os.waitstatus_to_exitcode(status)}, handle)
"""


def run_once(config: Config, python: str = sys.executable, cwd: Path = REPO_ROOT) -> Sample:
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "rusage.json"
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        load = os.getloadavg()[0]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run(
                [python, "-I", "-S", "-c", LAUNCHER, str(result), python, *config.argv],
                cwd=cwd,
                stdout=stdout,
                stderr=stderr,
                check=True,
            )
        usage = json.loads(result.read_text())
        if usage["exit"] != 0:
            detail = err.read_text(errors="replace")[-4000:]
            raise ChildError(f"{config.label}: exit {usage['exit']}\n{detail}")
        lines = out.read_text().strip().splitlines()
    payload = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Sample(
        wall_seconds=usage["wall"],
        cpu_seconds=usage["cpu"],
        peak_rss_mib=usage["maxrss_kib"] / 1024,  # KiB on Linux
        load_1m=load,
        payload=payload,
    )


def run_interleaved(
    configs: Sequence[Config],
    runs: int,
    progress: Callable[[str], None] | None = None,
    runner: Callable[[Config], Sample] = run_once,
) -> dict[str, list[Sample]]:
    """`runs` samples of every config, round-robin; labels must be unique."""
    labels = [config.label for config in configs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels: {labels}")
    samples: dict[str, list[Sample]] = {label: [] for label in labels}
    for repetition in range(runs):
        for config in configs:
            sample = runner(config)
            samples[config.label].append(sample)
            if progress:
                progress(
                    f"[{repetition + 1}/{runs}] {config.label}: {sample.wall_seconds:.2f} s wall, "
                    f"{sample.peak_rss_mib:.0f} MiB, load {sample.load_1m:.1f}"
                )
    return samples
