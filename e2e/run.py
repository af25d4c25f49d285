"""End to end against the real binaries: etcd, kube-apiserver and the AWS CCM on loopback, moto as
EC2 and ELB behind an enforcing IAM proxy.

    python -m e2e.run [--stack k8s-1-35] [--case NAME ...] [--ccm-seconds 90]

For the newest buildable release the program's stack is run under the mock engine; moto is
seeded from that graph by tools/aws_replay.py (VPC, subnets, cluster-tagged security groups,
instances with IPv4 and IPv6 addresses). Each case then gets a fresh etcd + kube-apiserver with
the program's PKI and the command line kubeadm writes for its kubeadm configuration, the program's Secrets,
ConfigMap and RBAC, Node objects registered as the kubelet would, the CCM as a local process
with the DaemonSet's arguments, and its own enforcing AWS proxy (e2e/aws_proxy.py): every EC2 and
ELB call of the CCM is judged by the IAM simulator against the control-plane role's rendered
policies before it reaches moto. The load balancer cases then create a Service of type
LoadBalancer (e2e/services.py). `build/e2e/report.json` records each case with the Node objects
read back from the API server, the path of the full CCM log and of its AWS calls
(`build/e2e/aws-calls-<case>.json`).

After those cases, the HA case (e2e/ha.py, `--ha-stack`, default `prod`) prepares its own
environment from that stack's graph: three etcd members, three API servers and the CCM on each
with leader election, the leader's failover and a control plane's replacement.

This module runs one case and the whole run; the cases are e2e/cases.py's, the shared setup
e2e/environment.py's, the CCM's command line, mounts and secure-port probe e2e/ccm.py's, the
objects a case applies e2e/objects.py's, the checks e2e/judge.py's and the report e2e/report.py's.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from components.render.rbac import NAMESPACE
from components.settings import parse_settings
from e2e.aws_policies import role_for_proxy, without_listener_tag_on_create
from e2e.aws_proxy import AwsProxy
from e2e.cases import Case, cases
from e2e.ccm import ccm_command, ccm_environment, mount_files, probe_secure_port, write_ccm_kubeconfig
from e2e.cluster import ControlPlane, start_control_plane
from e2e.enforcer import Enforcer
from e2e.environment import Environment, prepare
from e2e.ha import ha_case, run_ha_case
from e2e.imds import MetadataServer
from e2e.judge import is_initialised, judge
from e2e.kube import Kube
from e2e.objects import apply_ccm_objects, apply_manifests, register_nodes
from e2e.procs import Process, free_port, stop_all, wait_for
from e2e.report import (
    OUT_DIR,
    case_result,
    could_not_run,
    environment_report,
    new_report,
    print_case,
    summarise,
    write_report,
)
from e2e.services import ingress, service_manifest, service_path
from tools.iam_check.runner import SimulatorSession
from tools.offline.stackfiles import stack_config


def start_proxy(env: Environment, case: Case) -> tuple[AwsProxy, str]:
    """The enforcing AWS endpoint for the case: the control-plane role's policies (the case's
    change applied), the role session named after the control plane's instance."""
    authz = env.authorization
    policies = authz.policies
    note = "the control-plane role's identity policies as rendered (mock IDs replaced by moto's)"
    if case.revert_listener_tag_on_create:
        policies = without_listener_tag_on_create(policies)
        note += "; fix 3 reverted: CreateListener removed from elasticloadbalancing:CreateAction"
    control_plane = next(i for i in env.instances if i.program_name == f"{env.cluster_name}-control-plane-node")
    role = role_for_proxy(authz.role, policies, control_plane.instance_id)
    enforcer = Enforcer(authz.facts, role, authz.state, authz.simulator)
    return AwsProxy(env.moto_url, enforcer, authz.state).start(), note


def _wait_for_outcome(case: Case, admin: Kube, ccm: Process, proxy: AwsProxy, ccm_seconds: float) -> str:
    """Until the expected failure is in the log, or every node is initialised (and, for a load
    balancer case, the Service has an address); how the wait ended."""
    deadline = time.monotonic() + ccm_seconds

    def initialised() -> bool | None:
        nodes = admin.get("/api/v1/nodes")["items"]
        return True if nodes and all(is_initialised(node) for node in nodes) else None

    def finished() -> bool | None:
        if case.failure is not None:
            denied = sum(1 for call in list(proxy.calls) if call["decision"] != "allowed")
            return True if case.failure.search(ccm.log_text()) and denied >= case.denials else None
        if case.load_balancer is not None:
            return True if ingress(admin.get(service_path())) else None
        return initialised()

    try:
        if case.load_balancer is not None:
            wait_for(f"case {case.name}: nodes initialised", initialised, ccm_seconds, interval=1, alive=ccm)
            apply_manifests(admin, [service_manifest(case.load_balancer)])
        wait_for(f"case {case.name}", finished, max(deadline - time.monotonic(), 1), interval=1, alive=ccm)
        time.sleep(5)  # let late errors (or their absence) show in the log, and a wrong address appear
    except TimeoutError as error:
        return str(error)
    return "condition met"


def run_case(env: Environment, case: Case, ccm_seconds: float) -> dict[str, Any]:
    log_dir = env.log_root / case.name
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=env.private_dir))
    families = case.node_ip_families or env.ip_families
    started = time.monotonic()
    binaries = {"etcd": env.binaries.etcd, "kube-apiserver": env.binaries.kube_apiserver}
    plane: ControlPlane = start_control_plane(
        binaries,
        kubeadm_command=env.kubeadm_command,
        pki_dir=env.private_dir / "pki",
        work_dir=work,
        log_dir=log_dir,
        aggregation_layer=case.aggregation_layer,
    )
    ccm: Process | None = None
    proxy: AwsProxy | None = None
    try:
        proxy, policy_note = start_proxy(env, case)
        admin = plane.admin
        authentication = admin.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/extension-apiserver-authentication")
        overrides_text = apply_ccm_objects(env, case, admin, families, proxy.url)
        mount_dir = work / "mount"
        mount_files(admin, mount_dir, overrides_text)
        kubeconfig = write_ccm_kubeconfig(env, plane, work)
        register_nodes(env, case, admin)

        secure_port = free_port()
        command = ccm_command(env, case, mount_dir, kubeconfig, secure_port)
        ccm_log = log_dir / "ccm.log"
        ccm = Process("aws-cloud-controller-manager", command, ccm_log, ccm_environment(env, work))
        outcome = _wait_for_outcome(case, admin, ccm, proxy, ccm_seconds)
        exit_code = ccm.exited()
        secure_port_answers = probe_secure_port(secure_port, env.private_dir / "pki") if exit_code is None else {}
        ccm.stop()
        nodes = [admin.get(f"/api/v1/nodes/{instance.node_name}") for instance in env.instances]
        service = admin.get(service_path()) if case.load_balancer is not None else None
        calls_file = env.log_root / f"aws-calls-{case.name}.json"
        aws_calls = proxy.write_calls(
            calls_file,
            {
                "case": case.name,
                "policies": policy_note,
                "principal": proxy.enforcer.role.session_arn,
                "simulator": f"@cloud-copilot/iam-simulate {env.authorization.simulator_version}",
            },
        )
        passed, problems, decisive = judge(
            env,
            case,
            log=ccm.log_text(),
            nodes=nodes,
            secure_port_answers=secure_port_answers,
            service=service,
            aws_calls=aws_calls,
            calls=list(proxy.calls),
        )
        return case_result(
            case,
            passed=passed,
            ccm_log=ccm_log,
            api_server_log=log_dir / "kube-apiserver.log",
            ccm_exit_code=exit_code,
            wait_outcome=outcome,
            seconds=time.monotonic() - started,
            ccm_command=command,
            problems=problems,
            decisive_log_lines=decisive,
            authentication=authentication,
            ccm_secure_port=secure_port_answers,
            aws_calls=calls_file,
            aws_calls_summary=aws_calls,
            service=service,
            nodes=nodes,
        )
    finally:
        if ccm is not None:
            ccm.stop()
        if proxy is not None:
            proxy.stop()
        plane.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="k8s-1-35")
    parser.add_argument("--case", action="append", help="run only these cases (default: all)")
    parser.add_argument("--ccm-seconds", type=float, default=90, help="bound of each CCM run")
    parser.add_argument("--ha-stack", default="prod", help="the stack of the HA case (e2e/ha.py)")
    args = parser.parse_args(argv)
    ha_minor = parse_settings(stack_config(args.ha_stack), args.ha_stack).release.minor
    ha_name = ha_case(ha_minor).name
    started = time.monotonic()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    private_dir = Path(tempfile.mkdtemp(prefix="k8s-dualstack-e2e-"))
    services: list[Process | MetadataServer | SimulatorSession] = []
    report = new_report(args.stack)
    try:
        env, services = prepare(args.stack, private_dir, OUT_DIR)
        report |= environment_report(env)
        for case in cases(env.release):
            if args.case and case.name not in args.case:
                continue
            print(f"e2e: {case.name} (expect {case.expect}) ...", flush=True)
            try:
                result = run_case(env, case, args.ccm_seconds)
            except Exception as error:  # a case that could not run is a failed case, not a crash
                result = could_not_run(case, error, OUT_DIR)
            report["cases"].append(result)
            print_case(result)
        for service in services:
            service.stop()
        services = []
        if not args.case or ha_name in args.case:
            print(f"e2e: {ha_name} (expect pass, stack {args.ha_stack}) ...", flush=True)
            result = run_ha_case(args.ha_stack, ha_minor, OUT_DIR, args.ccm_seconds)
            report["cases"].append(result)
            print_case(result)
    finally:
        for service in services:
            service.stop()
        stop_all()
        shutil.rmtree(private_dir, ignore_errors=True)
        write_report(OUT_DIR / "report.json", report, started)
    return summarise(OUT_DIR / "report.json", report)


if __name__ == "__main__":
    raise SystemExit(main())
