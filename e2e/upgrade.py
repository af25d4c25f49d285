"""End to end: an in-place upgrade from release N to N+1 with the real binaries, and its refusal.

    python -m e2e.upgrade [--stack k8s-1-35] [--from 1.34] [--to 1.35] [--ccm-seconds 120]

Release N: etcd and kube-apiserver of N (kubeadm N's flags for the program rendered at N), the
program's Secrets, ConfigMap and RBAC of N, the CCM of N with N's DaemonSet arguments and cloud
config against moto (behind the enforcing IAM proxy), and Node objects registered for every moto
instance but one, which the CCM initialises. Then, as the program's upgrade orders it: the API
server of N stops and the API server of N+1 starts on the same etcd data (kubeadm N+1's flags for
the stored configuration at N+1, what `kubeadm upgrade apply` writes); once it reports the gate's
version on /version (components/readiness.py, the program's own wait), N+1's cluster-side objects
are applied over N's; the CCM of N stops and the CCM of N+1 starts. The held-back instance's Node
registers only then. Negative control: while the API server of N runs, the CCM of N+1 is refused
by the program's skew rule (components/version_skew.py, and the settings parser for a `ccmImage`
of N+1 on a stack at N) and never started.

Every CCM start goes through the same gate (e2e/upgrade_steps.py CcmGate). The checks are
e2e/upgrade_judge.py's; the report is `build/e2e/upgrade-report.json`, the logs are under
`build/e2e/upgrade/`. The exit code is 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from components.readiness import wait_until_version
from components.settings import parse_settings
from components.settings_reader import ConfigError
from e2e.aws_proxy import AwsProxy
from e2e.build import BUILDS
from e2e.cases import Case
from e2e.ccm import probe_secure_port
from e2e.cluster import ControlPlane, start_etcd
from e2e.environment import Environment
from e2e.judge import check_positive
from e2e.procs import stop_all
from e2e.report import OUT_DIR
from e2e.services import authorization_errors, call_problems
from e2e.upgrade_env import UpgradeEnvironment, prepare_upgrade
from e2e.upgrade_judge import (
    check,
    forbidden_lines,
    node_state,
    overall,
    refusal_problems,
    split_by_window,
    successfully_initialised,
    unchanged_problems,
    version_in,
)
from e2e.upgrade_steps import (
    CcmGate,
    StartedCcm,
    api_server_version,
    apply_release_objects,
    ccm_binary_version,
    register,
    start_api_server,
    start_ccm,
    start_proxy,
    wait_initialised,
)
from tools.offline.stackfiles import stack_config

REPORT = OUT_DIR / "upgrade-report.json"
LOG_DIR = OUT_DIR / "upgrade"


def _newest_two() -> tuple[str, str]:
    minors = sorted(BUILDS, key=lambda minor: tuple(int(part) for part in minor.split(".")))
    if len(minors) < 2:
        raise SystemExit(f"e2e upgrade: needs two buildable releases, e2e/build.py has {minors}")
    return minors[-2], minors[-1]


def settings_refusal(stack: str, old_minor: str, ccm_image: str) -> str | None:
    """The settings parser's answer to `ccmImage` = `ccm_image` on the stack at `old_minor`."""
    try:
        parse_settings(stack_config(stack, overrides={"kubernetesVersion": old_minor, "ccmImage": ccm_image}), stack)
    except ConfigError as error:
        return str(error)
    return None


class UpgradeRun:
    """The case's state from phase to phase: the releases, etcd, the current API server, the CCMs."""

    def __init__(self, up: UpgradeEnvironment, stack: str, report: dict[str, Any], ccm_seconds: float) -> None:
        self.up, self.stack, self.report, self.ccm_seconds = up, stack, report, ccm_seconds
        self.old, self.new = up.old, up.new
        self.checks: list[dict[str, Any]] = report["checks"]
        self.case = Case(
            name=f"upgrade-{self.old.release.minor}-to-{self.new.release.minor}", expect="pass", description=""
        )
        self.pki, self.work = self.old.private_dir / "pki", self.old.private_dir / "work"
        workers = [i for i in self.old.instances if i.program_name != f"{self.old.cluster_name}-control-plane-node"]
        self.late = workers[-1]
        self.first = [i for i in self.old.instances if i is not self.late]
        report["node_registered_after_upgrade"] = self.late.node_name
        report["nodes_registered_before_upgrade"] = [i.node_name for i in self.first]
        self.gate = CcmGate()
        report["ccm_start_gate"] = self.gate.decisions
        self.ccm_text = {env.release.minor: ccm_binary_version(env.binaries.ccm) for env in (self.old, self.new)}
        self.ccm_version = {minor: version_in(text) or "" for minor, text in self.ccm_text.items()}
        if not all(self.ccm_version.values()):
            raise RuntimeError(f"a CCM's --version named no version: {self.ccm_text}")
        self.etcd = start_etcd(self.old.binaries.etcd, self.work / "etcd", LOG_DIR / "etcd.log")[0]
        self.plane = self._api_server(self.old, "N")
        self.old_ccms: list[StartedCcm] = []
        self.before: dict[str, dict[str, Any]] = {}

    def _api_server(self, env: Environment, side: str, port: int | None = None) -> ControlPlane:
        log = LOG_DIR / f"kube-apiserver-{side}-{env.release.minor}.log"
        return start_api_server(
            env.binaries.kube_apiserver, env.kubeadm_command, self.pki, self.etcd, log=log, port=port
        )

    def _phase(self, name: str, started: float, **facts: Any) -> None:
        self.report["phases"].append({"name": name, "seconds": round(time.monotonic() - started, 1), **facts})

    def _start_ccm(self, env: Environment, proxy: AwsProxy, label: str, name: str) -> StartedCcm:
        """The release's CCM, if the program's skew rule allows it against the running API server."""
        api = api_server_version(self.plane.admin)
        refusal = self.gate.decide(label, version_in(api) or api, self.ccm_version[env.release.minor])
        if refusal is not None:
            raise RuntimeError(f"{label} refused against the API server {api}: {refusal}")
        work, log = self.work / name, LOG_DIR / f"{name}.log"
        return start_ccm(env, self.case, self.plane, proxy, work=work, log=log)

    def release_n(self) -> None:
        """etcd, the API server, the objects and the CCM of N; every node but one initialised."""
        started, old = time.monotonic(), self.old
        self.old_proxy = start_proxy(old)
        objects = apply_release_objects(self.plane.admin, None, old.objects)
        register(self.plane.admin, old, self.first)
        self.old_ccm = self._start_ccm(old, self.old_proxy, f"CCM {old.release.minor}", f"ccm-N-{old.release.minor}")
        self.old_ccms.append(self.old_ccm)
        names = [i.node_name for i in self.first]
        seconds = wait_initialised(self.plane.admin, names, self.old_ccm.process, self.ccm_seconds, "CCM N: nodes")
        nodes = [self.plane.admin.get(f"/api/v1/nodes/{name}") for name in names]
        self.before = {node["metadata"]["name"]: node_state(node) for node in nodes}
        problems = check_positive("", nodes, self.first, old.ip_families)
        self.checks.append(check(f"CCM {old.release.minor} initialises every node of release N", problems))
        self._phase(
            f"release {old.release.minor}",
            started,
            api_server_version=api_server_version(self.plane.admin),
            ccm_version=self.ccm_text[old.release.minor],
            ccm_command=self.old_ccm.command,
            objects=objects,
            nodes_initialised=len(self.before),
            seconds_to_initialise=round(seconds, 1),
            nodes=self.before,
        )

    def negative_control(self) -> None:
        """The CCM of N+1 against the API server of N: the gate must refuse it, naming both versions;
        the settings parser must refuse its image on the stack at N, naming the key and both versions."""
        api = api_server_version(self.plane.admin)
        new = self.new
        ccm = self.ccm_version[new.release.minor]
        label = f"CCM {new.release.minor} against the API server of N (negative control)"
        refusal = self.gate.decide(label, version_in(api) or api, ccm)
        # Even when the rule wrongly allowed it, the harness does not start it: the check fails instead.
        parser = settings_refusal(self.stack, self.old.release.minor, new.release.ccm_image)
        tag = version_in(new.release.ccm_tag) or new.release.ccm_tag
        problems = refusal_problems(refusal, [version_in(api) or api, ccm])
        problems += refusal_problems(parser, ["ccmImage", str(self.old.release.version), tag])
        self.report["negative_control"] = {
            "api_server_version": api,
            "ccm_version": self.ccm_text[new.release.minor],
            "outcome": "refused before start" if refusal is not None else "NOT refused (and not started)",
            "rule_message": refusal,
            "settings_parser_ccm_image": new.release.ccm_image,
            "settings_parser_message": parser,
        }
        self.checks.append(check("negative control: CCM N+1 against API server N refused before it runs", problems))

    def control_plane(self) -> None:
        """The API server of N+1 on the same etcd, the program's version gate, N+1's objects."""
        started, new = time.monotonic(), self.new
        self.plane.api_server.stop()
        self.restart_window = (datetime.datetime.now(), datetime.datetime.now())
        self.plane = self._api_server(new, "N+1", port=int(self.plane.server.rsplit(":", 1)[1]))
        self.restart_window = (self.restart_window[0], datetime.datetime.now())
        unavailable = time.monotonic() - started
        gate_started, gate_problems, attempts = time.monotonic(), [], 0
        try:
            attempts = wait_until_version(
                self.plane.server, (self.pki / "ca.crt").read_text(), self.up.gate_version, timeout_seconds=120
            )
        except Exception as error:  # the program's gate refused: nothing after it may run
            gate_problems.append(f"{type(error).__name__}: {error}")
        self.checks.append(check(f"version gate: the API server reports {self.up.gate_version}", gate_problems))
        if gate_problems:
            raise RuntimeError("the version gate did not pass: N+1's objects and CCM are not applied")
        # CCM N exits when it loses its leader lease while no API server answers; the kubelet would
        # restart its pod against the API server that now runs: so does the harness, through the gate.
        ccm_n_exit = self.old_ccm.process.exited()
        if ccm_n_exit is not None:
            label, name = f"CCM {self.old.release.minor} (restarted)", f"ccm-N-{self.old.release.minor}-restarted"
            self.old_ccm = self._start_ccm(self.old, self.old_proxy, label, name)
            self.old_ccms.append(self.old_ccm)
        objects = apply_release_objects(self.plane.admin, self.old.objects, new.objects)
        time.sleep(10)  # CCM N against the API server and the objects of N+1, before it is rolled
        self._phase(
            f"control plane {self.old.release.minor} -> {new.release.minor}",
            started,
            api_server_version=api_server_version(self.plane.admin),
            api_server_unavailable_seconds=round(unavailable, 1),
            gate={
                "expected": self.up.gate_version,
                "probes": attempts,
                "seconds": round(time.monotonic() - gate_started, 1),
            },
            objects=objects,
            ccm_of_n_exit_code_during_the_swap=ccm_n_exit,
            ccm_of_n_restarted=ccm_n_exit is not None,
            ccm_of_n_running_before_the_roll=self.old_ccm.process.exited() is None,
        )

    def ccm_n_plus_1(self) -> None:
        """CCM N stops, CCM N+1 starts; the held-back instance's Node registers only now."""
        started, new = time.monotonic(), self.new
        old_exit = self.old_ccm.process.stop()
        self.new_proxy = start_proxy(new)
        self.new_ccm = self._start_ccm(new, self.new_proxy, f"CCM {new.release.minor}", f"ccm-N+1-{new.release.minor}")
        register(self.plane.admin, new, [self.late])
        process = self.new_ccm.process
        seconds = wait_initialised(self.plane.admin, [self.late.node_name], process, self.ccm_seconds, "CCM N+1")
        time.sleep(10)  # late errors (or their absence) in the logs; a resync of the node controller
        port = _secure_port(self.new_ccm.command)
        self.secure_port = probe_secure_port(port, self.pki) if process.exited() is None else {}
        new_exit = process.stop()
        nodes = [self.plane.admin.get(f"/api/v1/nodes/{i.node_name}") for i in self.old.instances]
        self.after = {node["metadata"]["name"]: node_state(node) for node in nodes}
        self.late_node = next(node for node in nodes if node["metadata"]["name"] == self.late.node_name)
        self._phase(
            f"CCM {new.release.minor}",
            started,
            api_server_version=api_server_version(self.plane.admin),
            ccm_version=self.ccm_text[new.release.minor],
            ccm_command=self.new_ccm.command,
            ccm_exit_codes={"N": old_exit, "N+1": new_exit},
            ccm_secure_port=self.secure_port,
            seconds_to_initialise_new_node=round(seconds, 1),
            nodes=self.after,
        )
        self.plane.api_server.stop()
        self.etcd.stop()

    def judge(self) -> None:
        old, new = "N", "N+1"
        logs = {old: "\n".join(ccm.process.log_text() for ccm in self.old_ccms), new: self.new_ccm.process.log_text()}
        self.report["ccm_logs"] = {old: [str(ccm.log) for ccm in self.old_ccms], new: [str(self.new_ccm.log)]}
        self.checks.append(
            check(
                "nodes stay initialised: provider ID and InternalIPs unchanged",
                unchanged_problems(self.before, self.after),
            )
        )
        late = check_positive("", [self.late_node], [self.late], self.new.ip_families)
        if not successfully_initialised(logs[new], self.late.node_name):
            late.append(f"CCM {new}'s log does not say it initialised {self.late.node_name}")
        if successfully_initialised(logs[old], self.late.node_name):
            late.append(f"CCM {old} initialised {self.late.node_name}")
        self.checks.append(check(f"a node registered after the upgrade is initialised by CCM {new}", late))
        self._judge_forbidden(logs)
        aws_problems: list[str] = []
        self.report["aws_calls"] = {}
        for minor, proxy in ((old, self.old_proxy), (new, self.new_proxy)):
            path = LOG_DIR / f"aws-calls-ccm-{minor}.json"
            summary = proxy.write_calls(path, {"case": self.case.name, "ccm": minor})
            proxy.stop()
            self.report["aws_calls"][minor] = {
                "file": str(path),
                **{k: summary[k] for k in ("requests", "allowed", "denied", "errors")},
            }
            aws_problems += [f"CCM {minor}: {problem}" for problem in call_problems(summary)]
            aws_problems += [f"CCM {minor} log: {line[:300]}" for line in authorization_errors(logs[minor])[:3]]
        self.checks.append(check("every AWS call of both CCMs allowed by the control-plane role", aws_problems))
        answers = [f"{name}: {answer}" for name, answer in self.secure_port.items() if answer != 200]
        self.checks.append(check(f"CCM {new} secure port answers 200", answers if self.secure_port else ["not probed"]))

    def _judge_forbidden(self, logs: dict[str, str]) -> None:
        """No `forbidden` line in either CCM log, but for those logged while the API server of N+1
        was starting (from the stop of N to its /readyz answering ok): its RBAC authorizer serves
        requests before its caches are synced (bootstrap roles "not found"). Those are counted apart."""
        start, end = self.restart_window
        year = start.year
        counts: dict[str, dict[str, int]] = {}
        problems: list[str] = []
        during_restart: dict[str, list[str]] = {}
        for side, log in logs.items():
            found = forbidden_lines(log)
            inside, outside = split_by_window(found, start, end, year)
            counts[f"CCM {side}"] = {
                "total": len(found),
                "during_api_server_restart": len(inside),
                "other": len(outside),
            }
            during_restart[f"CCM {side}"] = [line[:400] for line in inside[:5]]
            problems += [f"CCM {side}: {line[:300]}" for line in outside[:3]]
        self.report["forbidden_counts"] = counts
        self.report["forbidden_during_api_server_restart"] = {
            "window": [start.isoformat(), end.isoformat()],
            "lines": during_restart,
        }
        name = "no `forbidden` line in either CCM log (apart from the API server's restart window)"
        self.checks.append(check(name, problems, counts))


def _secure_port(command: list[str]) -> int:
    return int(next(arg for arg in command if arg.startswith("--secure-port=")).split("=", 1)[1])


def main(argv: list[str] | None = None) -> int:
    old_default, new_default = _newest_two()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", default="k8s-1-35")
    parser.add_argument(
        "--from", dest="old", default=old_default, help="release N (default: the older of the newest two)"
    )
    parser.add_argument("--to", dest="new", default=new_default, help="release N+1 (default: the newest buildable)")
    parser.add_argument("--ccm-seconds", type=float, default=120, help="bound of each wait for the CCM")
    args = parser.parse_args(argv)
    started = time.monotonic()
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    private_dir = Path(tempfile.mkdtemp(prefix="k8s-dualstack-e2e-upgrade-"))
    report: dict[str, Any] = {"stack": args.stack, "from": args.old, "to": args.new, "phases": [], "checks": []}
    up: UpgradeEnvironment | None = None
    try:
        print(f"e2e upgrade: {args.stack} {args.old} -> {args.new} ...", flush=True)
        up = prepare_upgrade(args.stack, args.old, args.new, private_dir, LOG_DIR)
        report["releases"] = {
            side: {
                "program_kubernetes_version": env.release.kubernetes_version,
                "program_ccm_image": env.release.ccm_image,
                "built_kubernetes_version": env.binaries.kubernetes_version,
                "built_ccm_version": env.binaries.ccm_version,
                "build_note": env.binaries.note,
                "kubeadm_api_server_command": env.kubeadm_command,
            }
            for side, env in (("N", up.old), ("N+1", up.new))
        }
        fresh = set(up.kubeadm_fresh_command) ^ set(up.new.kubeadm_command)
        report["releases"]["N+1"]["flags_differing_from_a_fresh_N+1_control_plane"] = sorted(fresh)
        report["instances"] = [instance.__dict__ for instance in up.old.instances]
        run = UpgradeRun(up, args.stack, report, args.ccm_seconds)
        for step in (run.release_n, run.negative_control, run.control_plane, run.ccm_n_plus_1, run.judge):
            print(f"e2e upgrade: {step.__name__} ...", flush=True)
            step()
    except Exception as error:  # a case that could not finish is a failed check, not a crash
        report["checks"].append(check("the case ran to the end", [f"{type(error).__name__}: {error}"]))
    finally:
        for service in up.services if up else []:
            service.stop()
        stop_all()
        shutil.rmtree(private_dir, ignore_errors=True)
    report["passed"] = overall(report["checks"])
    report["seconds"] = round(time.monotonic() - started, 1)
    REPORT.write_text(json.dumps(report, indent=2, default=str) + "\n")
    for item in report["checks"]:
        print(f"e2e upgrade: {'ok' if item['passed'] else 'NOT OK'}: {item['name']}")
        for problem in item["problems"][:5]:
            print(f"    problem: {problem}")
    print(f"e2e upgrade: report {REPORT}; {'passed' if report['passed'] else 'FAILED'} in {report['seconds']}s")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
