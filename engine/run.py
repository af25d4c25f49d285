"""The engine tier: the real Pulumi engine applies the project's cluster side to a real control plane.

    python -m engine.run [--stack k8s-1-35]

The cluster (engine/cluster.py): etcd and kube-apiserver with kubeadm's flags and the render's CAs,
kube-controller-manager and kube-scheduler with kubeadm's flags, kwok playing the kubelets, moto
seeded from the render behind the enforcing IAM proxy, the IMDS stand-in, and the real AWS CCM run
for the DaemonSet's pod (engine/ccm_pod.py). The program (engine/program.py): ClusterAccess,
AwsCloudControllerManager and SmokeWorkload in an Automation API inline program, local backend.

Steps, each judged from the engine's own results (engine/judge.py): `up` creates everything and
every await finishes; a `preview` of the same program changes nothing; a cloud-config change (the
CCM's zone) previews as updates of the ConfigMap and the DaemonSet only, and its `up` rolls the
DaemonSet (the new checksum on the pod template read back); a `preview` after it changes nothing;
`destroy` deletes everything and the API server holds none of it; the backend's files hold no
private key. `build/engine/report.json` records it all; the exit code is 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

from components.render.ccm_manifests import CcmSettings, ccm_manifests
from components.render.cloud_config import render_cloud_config
from components.render.smoke import smoke_manifests
from components.settings import parse_settings
from e2e.cluster import program_cloud_config
from e2e.procs import stop_all
from engine import readback
from engine.ccm_pod import CcmPodRunner
from engine.cluster import EngineCluster, start_cluster
from engine.program import EnginePaths, ProgramInputs, drop_provider_overrides, make_stack, new_passphrase
from engine.report import OUT_DIR, Report, write_report
from engine.steps import Session
from tools.offline.stackfiles import stack_config

SUBNET = "aws:ec2/subnet:Subnet"

LEFT_OUT = [
    "Cilium (components/cni.py): its Helm chart needs a chart repository this machine cannot reach; "
    "its values stay checked by the unit tests (tests/test_cilium.py). The smoke Deployment therefore waits "
    "for the CCM's objects only, and kwok gives the pods their addresses (no pod network).",
    "The AWS side of the program (VPC, instances, load balancer): the render's graph seeds moto instead, and "
    "ClusterAccess gets no control-plane resources to wait for.",
    "Container images: kwok runs no containers. The CCM's pod is run as a local process of the e2e CCM "
    "build (engine/ccm_pod.py); the agnhost pods only exist as kwok reports them.",
]


def program_inputs(cluster: EngineCluster, stack: str, zone: str | None = None) -> ProgramInputs:
    settings = parse_settings(stack_config(stack), stack)
    env = cluster.env
    return ProgramInputs(
        release=settings.release,
        cluster_name=settings.cluster_name,
        region=settings.region,
        zone=zone or env.zone,
        ip_families=settings.ip_families,
        ccm_image=settings.effective_ccm_image,
        endpoint=cluster.plane.server,
        cluster_ca_cert_pem=cluster.ca_cert_pem,
        front_proxy_ca_cert_pem=cluster.front_proxy_ca_cert_pem,
        admin_cert_pem=cluster.admin_credentials.cert_pem,
        admin_key_pem=cluster.admin_credentials.key_pem,
    )


def rendered_object_count(inputs: ProgramInputs) -> int:
    """The Kubernetes objects the components render for `inputs` (the renderers, not the engine)."""
    cloud_config = render_cloud_config(
        inputs.release,
        cluster_name=inputs.cluster_name,
        zone=inputs.zone,
        region=inputs.region,
        ip_families=inputs.ip_families,
    )
    settings = CcmSettings(inputs.release, inputs.ccm_image, inputs.cluster_name, cloud_config)
    return len(ccm_manifests(settings, "ca", "front-proxy-ca")) + len(smoke_manifests(inputs.ip_families))


def other_zone(zones: list[str], current: str) -> str:
    """A zone of the region other than the CCM's current one: the changed cloud-config setting."""
    others = sorted(set(zones) - {current})
    if not others:
        raise ValueError(f"no zone other than {current} among {zones}")
    return others[0]


def run_steps(report: Report, cluster: EngineCluster, stack_name: str, paths: EnginePaths) -> None:
    runner = CcmPodRunner(
        env=cluster.env,
        admin=cluster.admin,
        server=cluster.plane.server,
        node_name=cluster.control_plane.node_name,
        aws_url=cluster.proxy.url,
        work=cluster.work,
        log_dir=cluster.log_dir,
    ).start()
    inputs = program_inputs(cluster, stack_name)
    session: Session | None = None
    try:
        with report.step("render-cross-check") as step:
            ours = render_cloud_config(
                inputs.release,
                cluster_name=inputs.cluster_name,
                zone=inputs.zone,
                region=inputs.region,
                ip_families=inputs.ip_families,
            )
            if ours != program_cloud_config(cluster.env.graph):
                step.problems.append("the engine program's cloud config differs from the render's")
            step.notes.append(f"zone {inputs.zone}: the render's CCM cloud config reproduced")
        stack = make_stack(inputs, cluster.pulumi, cluster.plugin_dirs, paths, new_passphrase())
        session = Session(report, cluster, stack, paths, runner, rendered_object_count(inputs))
        session.up()
        if report.failed():
            return
        session.preview_unchanged("preview-unchanged")
        graph = cluster.env.graph
        zones = [str(s.inputs["availabilityZone"]) for s in graph.by_type(SUBNET) if s.inputs.get("availabilityZone")]
        changed = program_inputs(cluster, stack_name, zone=other_zone(zones, inputs.zone))
        session.change(changed, f"the CCM's zone {inputs.zone} -> {changed.zone} (cloud config `Zone`)")
        session.preview_unchanged("preview-after-change")
        session.scan_state("state-scan-after-up", expect_secret=True)
    finally:
        if session is not None:
            session.destroy()
            session.scan_state("state-scan-after-destroy", expect_secret=False)
        runner.stop()
        report.details["ccm_runs"] = [run.as_dict() for run in runner.runs]
        report.details["ccm_runner_errors"] = runner.errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", default="k8s-1-35")
    args = parser.parse_args(argv)
    paths = EnginePaths(OUT_DIR)
    for stale in (paths.backend, paths.pulumi_home, paths.workspace, paths.root / "logs"):
        shutil.rmtree(stale, ignore_errors=True)
    (paths.root / "logs").mkdir(parents=True, exist_ok=True)
    report = Report(args.stack)
    report.details["left_out"] = LEFT_OUT
    report.details["provider_env_dropped"] = drop_provider_overrides(os.environ)
    cluster: EngineCluster | None = None
    started = time.monotonic()
    try:
        with report.step("cluster") as step:
            cluster = start_cluster(args.stack, paths.root / "logs")
            report.objects["nodes_registered"] = [
                readback.node_summary(n) for n in cluster.admin.get("/api/v1/nodes")["items"]
            ]
            report.details["environment"] = {
                "release": cluster.env.release.minor,
                "kubernetes_version": cluster.env.binaries.kubernetes_version,
                "ccm_version": cluster.env.binaries.ccm_version,
                "server": cluster.plane.server,
                "instances": [instance.__dict__ for instance in cluster.env.instances],
                "commands": cluster.commands,
                "controllers": [process.argv for process in cluster.controllers],
            }
            step.notes.append(f"{len(cluster.env.instances)} nodes registered and Ready (kwok), still uninitialised")
        if cluster is not None:
            run_steps(report, cluster, args.stack, paths)
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.env.private_dir, ignore_errors=True)
        stop_all()
        document = write_report(paths.root / "report.json", report)
    verdict = "passed" if document["passed"] else "FAILED"
    print(f"engine: report {paths.root / 'report.json'}; {verdict} in {time.monotonic() - started:.1f}s", flush=True)
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
