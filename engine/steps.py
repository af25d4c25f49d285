"""The engine tier's steps against a running cluster, each recorded in the report with the engine's
own change summary: `up`, a no-change `preview`, a cloud-config change (`preview` and `up`), a
`preview` after it, the backend's files scanned for private keys, `destroy` and the scan again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from e2e.procs import wait_for
from engine import judge, readback
from engine.ccm_pod import CcmPodRunner
from engine.cluster import EngineCluster
from engine.program import EnginePaths, EventLog, ProgramInputs, new_event_log, set_program
from engine.report import Report, StepResult


@contextlib.contextmanager
def _logged(paths: EnginePaths, name: str) -> Iterator[Callable[[str], None]]:
    """The CLI's output of one operation, to build/engine/logs/pulumi-<name>.log."""
    with (paths.root / "logs" / f"pulumi-{name}.log").open("a") as log:

        def write(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        yield write


def backend_files(paths: EnginePaths) -> list[Path]:
    """Every file of the local backend (state, history, backups, locks) and of the workspace."""
    return sorted(p for root in (paths.backend, paths.workspace) for p in root.rglob("*") if p.is_file())


@dataclass
class Session:
    report: Report
    cluster: EngineCluster
    stack: auto.Stack
    paths: EnginePaths
    runner: CcmPodRunner
    expected_objects: int
    state: list[dict[str, Any]] = field(default_factory=list)
    """The exported state's resources after the first `up`."""

    @property
    def key_pem(self) -> str:
        return self.cluster.admin_credentials.key_pem

    def _finish(self, step: StepResult, summary: Mapping[Any, int], events: EventLog) -> dict[str, int]:
        step.change_summary = judge.counts(summary)
        step.notes += events.diagnostics[:20]
        return step.change_summary

    def up(self) -> None:
        with self.report.step("up") as step:
            events = new_event_log()
            with _logged(self.paths, "up") as write:
                result = self.stack.up(on_event=events, on_output=write, color="never")
            summary = self._finish(step, result.summary.resource_changes or {}, events)
            self.state = list((self.stack.export_stack().deployment or {}).get("resources", []))
            step.problems += judge.judge_first_up(summary, self.state, self.expected_objects)
            step.notes.append(self._wait_for_nodes())
            objects = readback.workloads(self.cluster.admin)
            self.report.objects["after_up"] = objects
            step.problems += readback.workload_problems(objects)
            step.notes.append(f"{len(self.state)} resources in the state, {self.expected_objects} Kubernetes objects")

    def _wait_for_nodes(self, timeout: float = 120) -> str:
        """The CCM initialises one node at a time (~4 s each against moto); `up` ends once the smoke
        pods are Ready, which needs one initialised worker only. Read back once every node is."""
        started = time.monotonic()
        try:
            wait_for(
                "every node initialised by the CCM",
                lambda: True if readback.all_initialised(self.cluster.admin) else None,
                timeout,
                interval=1,
            )
        except TimeoutError as error:
            return str(error)
        return f"every node initialised {time.monotonic() - started:.1f}s after the engine's answer"

    def preview_unchanged(self, name: str) -> None:
        with self.report.step(name) as step:
            events = new_event_log()
            preview = self.stack.preview(on_event=events, color="never")
            summary = self._finish(step, preview.change_summary, events)
            step.problems += judge.judge_no_change(
                summary, judge.steps_of(events.steps), len(judge.counted(self.state))
            )

    def change(self, changed: ProgramInputs, description: str) -> None:
        """The program fed with `changed`: the preview, then the `up` and the rollout it must cause."""
        old_checksum = self.report.objects["after_up"]["ccm_daemonset"]["template_checksum"]
        set_program(self.stack, changed)
        with self.report.step("preview-change") as step:
            events = new_event_log()
            preview = self.stack.preview(on_event=events, color="never")
            summary = self._finish(step, preview.change_summary, events)
            step.notes.append(description)
            step.problems += judge.judge_in_place_update(summary, judge.steps_of(events.steps))
        with self.report.step("up-change") as step:
            events = new_event_log()
            runs_before = len(self.runner.runs)
            with _logged(self.paths, "up-change") as write:
                result = self.stack.up(on_event=events, on_output=write, color="never")
            summary = self._finish(step, result.summary.resource_changes or {}, events)
            step.problems += judge.judge_in_place_update(summary, judge.steps_of(events.steps))
            objects = readback.workloads(self.cluster.admin)
            new_checksum = objects["ccm_daemonset"]["template_checksum"]
            step.problems += judge.judge_rollout(old_checksum, new_checksum, objects["cloud_config"])
            # The rolled pod runs the CCM again, with the new cloud config (engine/ccm_pod.py).
            wait_for(
                "the CCM to run for the rolled pod",
                lambda: True if self.runner.current and self.runner.current.checksum == new_checksum else None,
                60,
            )
            objects["ccm_pods"] = readback.workloads(self.cluster.admin)["ccm_pods"]
            self.report.objects["after_change"] = objects
            step.problems += readback.workload_problems(objects)
            if not any(pod["checksum"] == new_checksum for pod in objects["ccm_pods"] if pod["ready"]):
                step.problems.append("no Ready CCM pod carries the new checksum")
            step.notes.append(
                f"checksum {old_checksum} -> {new_checksum}; CCM processes {runs_before} -> {len(self.runner.runs)}"
            )

    def scan_state(self, name: str, expect_secret: bool) -> None:
        """The backend's files hold no private key; after an `up`, its state holds an encrypted secret
        (the kubeconfig), so the search looked where the key would be."""
        with self.report.step(name) as step:
            files = backend_files(self.paths)
            needles = judge.secret_needles(self.key_pem)
            found = judge.find_in_files(files, needles)
            step.problems += [f"private key material in clear text: {item}" for item in found]
            state_files = [p for p in files if "/.pulumi/stacks/" in p.as_posix()]
            encrypted = any(judge.SECRET_SIGNATURE in p.read_text(errors="replace") for p in state_files)
            if expect_secret and not encrypted:
                step.problems.append("the state holds no encrypted secret: where did the kubeconfig go?")
            if not state_files:
                step.problems.append("no state file under the backend")
            self.report.details[name.replace("-", "_")] = {
                "files_scanned": [str(p.relative_to(self.paths.root)) for p in files],
                "needles": sorted(needles),
                "found": found,
                "state_holds_encrypted_secrets": encrypted,
            }
            step.notes.append(f"{len(files)} files scanned for {len(needles)} needles")

    def destroy(self) -> None:
        with self.report.step("destroy") as step:
            events = new_event_log()
            with _logged(self.paths, "destroy") as write:
                result = self.stack.destroy(on_event=events, on_output=write, color="never")
            summary = self._finish(step, result.summary.resource_changes or {}, events)
            objects = judge.state_objects(self.state)
            left = readback.leftovers(self.cluster.admin, objects)
            self.report.objects["after_destroy"] = {"checked": [list(o) for o in objects], "left": left}
            step.problems += judge.judge_destroy(summary, len(judge.counted(self.state)), left)
            if not objects:
                step.problems.append("no objects to check: the first up left no state")
