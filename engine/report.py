"""`build/engine/report.json`: each step of the engine tier (name, duration, the engine's change
summary, pass/fail, problems and notes), the objects read back from the API server, overall pass.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "build" / "engine"


@dataclass
class StepResult:
    name: str
    seconds: float = 0.0
    passed: bool = False
    change_summary: dict[str, int] | None = None
    """The engine's own summary: UpResult.summary.resource_changes, PreviewResult.change_summary."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass
class Report:
    stack: str
    started: float = field(default_factory=time.time)
    steps: list[StepResult] = field(default_factory=list)
    objects: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepResult]:
        """Times the body; an exception fails the step (recorded, not raised), as do problems."""
        result = StepResult(name)
        self.steps.append(result)
        print(f"engine: {name} ...", flush=True)
        started = time.monotonic()
        try:
            yield result
        except Exception as error:
            result.error = f"{type(error).__name__}: {error}"[:4000]
            result.notes.append(traceback.format_exc(limit=6)[-3000:])
        finally:
            result.seconds = round(time.monotonic() - started, 1)
            result.passed = result.error is None and not result.problems
            verdict = "ok" if result.passed else "FAILED"
            summary = f" {result.change_summary}" if result.change_summary is not None else ""
            print(f"engine: {verdict}: {name} in {result.seconds}s{summary}", flush=True)
            for problem in result.problems:
                print(f"engine:   problem: {problem}", flush=True)
            if result.error:
                print(f"engine:   error: {result.error}", flush=True)

    def failed(self) -> bool:
        return any(not step.passed for step in self.steps)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and not self.failed()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "passed": self.passed,
            "seconds": round(time.time() - self.started, 1),
            "steps": [step.as_dict() for step in self.steps],
            "objects": self.objects,
            **self.details,
        }


def write_report(path: Path, report: Report) -> dict[str, Any]:
    document = report.as_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return document
