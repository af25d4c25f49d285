"""The in-place upgrade run on AWS (`make integration UPGRADE=1`), in order: a throwaway stack `up` at
the minor below the newest row, the first-`up` checks, `kubernetesVersion` set one minor up and `up`
again, the workers' instance refresh waited for, the cluster checked at the new version, a preview two
minors away refused; then, always, the cleanup of `runner.clean_up`.

`run_upgrade` takes its stack driver, cluster client, sweeper and instance-refresh reader as arguments,
so the order is unit-tested with fakes (tests/test_integration_upgrade.py).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO

from components.settings import PROJECT, parse_settings
from integration.harness import Check, Phase, Summary, write_private
from integration.runner import (
    DEFAULT_OUT,
    AutomationStack,
    Cluster,
    Kubectl,
    RunSettings,
    StackDriver,
    clean_up,
    now,
    phase,
    prepare,
    run_checks,
    wait_for_checks,
)
from integration.sweep import sweep_load_balancers
from integration.upgrade_checks import (
    Fleet,
    UpgradePair,
    api_version_check,
    ccm_checks,
    control_plane_labels,
    fleet,
    kubelet_checks,
    output_instance_check,
    refresh_check,
    refusal_checks,
    refusal_probe,
    upgrade_pair,
    upgraded_node_checks,
    wait_until_final,
)
from tools.offline.stackfiles import stack_config

SUMMARY_FILE = "upgrade-summary.json"
CCM_NAMESPACE, CCM_DAEMONSET = "kube-system", "aws-cloud-controller-manager"
CONTROL_PLANE_IDS_OUTPUT = "controlPlaneInstanceIds"
WORKER_GROUP_OUTPUT = "workerAutoScalingGroup"
# A refresh that started up to this long before the upgrade's `up` (by this machine's clock) still counts.
CLOCK_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class UpgradeSettings:
    run: RunSettings
    """The throwaway stack at the source version, and the waits of every check."""
    pair: UpgradePair
    target_ccm_image: str
    refresh_wait_seconds: float = 2700.0
    """Two workers, one at a time, each booting, joining and warming up (300 s): ~15 minutes expected."""


class UpgradeDriver(StackDriver, Protocol):
    def set_kubernetes_version(self, minor: str) -> None: ...
    def preview(self) -> tuple[bool, str]:
        """(whether the preview succeeded, its output and error)."""
        ...


class Refreshes(Protocol):
    def newest(self, group: str) -> Mapping[str, Any] | None:
        """The group's newest instance refresh as DescribeInstanceRefreshes returns it, or None."""
        ...


@dataclass
class UpgradeSummary(Summary):
    upgraded_to: str = ""
    refusal_probe: str = ""


def prefixed(checks: list[Check], prefix: str) -> list[Check]:
    return [dataclasses.replace(check, name=f"{prefix}: {check.name}") for check in checks]


@dataclass
class _Run:
    """What the steps share: the settings, the clients and what was seen before the upgrade."""

    settings: UpgradeSettings
    driver: UpgradeDriver
    connect: Callable[[Mapping[str, Any]], Cluster]
    refreshes: Refreshes
    summary: UpgradeSummary
    log: TextIO
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    wall_clock: Callable[[], datetime]
    cluster: Cluster | None = None

    def waited(self, probe: Callable[[], list[Check]], name: str) -> list[Check]:
        run = self.settings.run
        return wait_for_checks(
            probe,
            name,
            wait_seconds=run.wait_seconds,
            poll_seconds=run.poll_seconds,
            sleep=self.sleep,
            clock=self.clock,
        )

    def first_up_checks(self, cluster: Cluster, outputs: Mapping[str, Any]) -> Fleet:
        """The first-`up` checks (runner.run_checks), every kubelet at the source version, and which
        instances are the control planes and the workers (the control planes must be the stack's)."""
        version = self.settings.pair.source.kubernetes_version
        scratch = dataclasses.replace(self.summary, phases=[], checks=[])
        run_checks(self.settings.run, outputs, cluster, scratch, self.sleep)
        nodes = cluster.json("get", "nodes")
        before = fleet(nodes, control_plane_labels(self.settings.pair))
        stack_ids = outputs.get(CONTROL_PLANE_IDS_OUTPUT)
        same = isinstance(stack_ids, list) and set(stack_ids) == before.control_planes
        scratch.checks += [
            *kubelet_checks(nodes, version),
            Check("control-plane nodes are the stack's instances", same, f"nodes {sorted(before.control_planes)}"),
        ]
        self.summary.checks += prefixed(scratch.checks, version)
        return before

    def checks_after(self, cluster: Cluster, outputs_before: Mapping[str, Any], before: Fleet) -> None:
        pair, run = self.settings.pair, self.settings.run
        target = pair.target.kubernetes_version
        found = self.waited(lambda: [api_version_check(cluster.json("version"), target)], "API server /version")
        daemonset = ("-n", CCM_NAMESPACE, "get", "daemonset", CCM_DAEMONSET)
        found += self.waited(lambda: ccm_checks(cluster.json(*daemonset), self.settings.target_ccm_image), "CCM")
        labels = control_plane_labels(pair)

        def nodes() -> list[Check]:
            return upgraded_node_checks(cluster.json("get", "nodes"), target, before, labels, run.expected_nodes)

        found += self.waited(nodes, "nodes at the new version")
        outputs = self.driver.outputs()
        found.append(
            output_instance_check(outputs_before.get(CONTROL_PLANE_IDS_OUTPUT), outputs.get(CONTROL_PLANE_IDS_OUTPUT))
        )
        scratch = dataclasses.replace(self.summary, phases=[], checks=[])
        run_checks(run, outputs, cluster, scratch, self.sleep)
        self.summary.checks += prefixed([*found, *scratch.checks], target)

    def wait_for_refresh(self, group: str, since: datetime) -> None:
        check = wait_until_final(
            lambda: refresh_check(self.refreshes.newest(group), since - CLOCK_MARGIN),
            wait_seconds=self.settings.refresh_wait_seconds,
            poll_seconds=self.settings.run.poll_seconds,
            sleep=self.sleep,
            clock=self.clock,
        )
        self.summary.checks += prefixed([check], self.settings.pair.target.kubernetes_version)

    def refused_preview(self) -> None:
        target = self.settings.pair.target
        probe = refusal_probe(target)
        self.summary.refusal_probe = probe.minor
        try:
            self.driver.set_kubernetes_version(probe.minor)
            succeeded, output = self.driver.preview()
        finally:
            self.driver.set_kubernetes_version(target.minor)
        self.summary.checks += prefixed(
            refusal_checks(probe, not succeeded, output), f"deployed {target.kubernetes_version}"
        )

    def steps(self) -> None:
        """Each step only after the one before succeeded; the caller cleans up whatever happened."""
        source, target = self.settings.pair.source, self.settings.pair.target
        with phase(self.summary, f"up {source.kubernetes_version}", self.log) as done:
            self.driver.up()
        if not done[0]:
            return
        with phase(self.summary, f"checks at {source.kubernetes_version}", self.log) as done:
            outputs = self.driver.outputs()
            self.cluster = cluster = self.connect(outputs)
            before = self.first_up_checks(cluster, outputs)
        failed = [check.name for check in self.summary.checks if not check.ok]
        upgrade = f"up {target.kubernetes_version} (the in-place upgrade)"
        if not done[0] or failed:
            why = f"{len(failed)} check(s) failed" if done[0] else "the checks did not run"
            self.summary.phases.append(
                Phase(upgrade, False, 0.0, f"not attempted: at {source.kubernetes_version} {why}")
            )
            return
        since = self.wall_clock()
        with phase(self.summary, upgrade, self.log) as done:
            self.driver.set_kubernetes_version(target.minor)
            self.driver.up()
        if not done[0]:
            return
        with phase(self.summary, "the workers' instance refresh", self.log):
            self.wait_for_refresh(str(outputs[WORKER_GROUP_OUTPUT]), since)
        with phase(self.summary, f"checks at {target.kubernetes_version}", self.log):
            self.checks_after(cluster, outputs, before)
        with phase(self.summary, "a preview two minors away, refused", self.log):
            self.refused_preview()


def run_upgrade(
    settings: UpgradeSettings,
    driver: UpgradeDriver,
    connect: Callable[[Mapping[str, Any]], Cluster],
    sweep: Callable[[], list[str]],
    refreshes: Refreshes,
    *,
    log: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> UpgradeSummary:
    """The steps, then (always) the load balancer deleted, AWS swept, destroy; `upgrade-summary.json` written."""
    run = settings.run
    summary = UpgradeSummary(
        stack=run.names.stack,
        cluster=run.names.cluster,
        kubernetes_version=settings.pair.source.kubernetes_version,
        region=run.region,
        backend=driver.backend,
        started=now(),
        upgraded_to=settings.pair.target.kubernetes_version,
    )
    state = _Run(settings, driver, connect, refreshes, summary, log, sleep, clock, wall_clock)
    try:
        state.steps()
    finally:
        clean_up(summary, driver, state.cluster, sweep, path=run.out / SUMMARY_FILE, log=log)
    return summary


# -- the real thing -------------------------------------------------------------------------------


class UpgradableStack(AutomationStack):
    """The throwaway stack, with its `kubernetesVersion` changed through the workspace (the stack file)."""

    def set_kubernetes_version(self, minor: str) -> None:
        from pulumi import automation as auto  # noqa: PLC0415 - only where a real run happens

        self._select().set_config(f"{PROJECT}:kubernetesVersion", auto.ConfigValue(value=minor))

    def preview(self) -> tuple[bool, str]:
        lines: list[str] = []

        def output(text: str) -> None:
            lines.append(text)
            self._output(text)

        try:
            self._select().preview(on_output=output, color="never")
        except Exception as error:  # CommandError and its kinds: the program's error is in the text
            return False, "\n".join([*lines, f"{type(error).__name__}: {error}"])
        return True, "\n".join(lines)


class AutoScalingRefreshes:
    """DescribeInstanceRefreshes through a boto3 `autoscaling` client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def newest(self, group: str) -> Mapping[str, Any] | None:
        found = self.client.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
        oldest = datetime.min.replace(tzinfo=UTC)
        return max(found, key=lambda refresh: refresh.get("StartTime") or oldest, default=None)


def prepare_upgrade(environ: Mapping[str, str], out: Path = DEFAULT_OUT, token: str | None = None) -> UpgradeSettings:
    """The throwaway stack at the source minor, and the CCM image the stack names at the target."""
    pair = upgrade_pair(environ)
    run = prepare(environ, out, token, kubernetes_version=pair.source.minor)
    config = stack_config(run.names.stack, run.work_dir, {"kubernetesVersion": pair.target.minor})
    return UpgradeSettings(run, pair, parse_settings(config, run.names.stack).effective_ccm_image)


def run_upgrade_on_aws(environ: Mapping[str, str], out: Path = DEFAULT_OUT, log: TextIO = sys.stdout) -> UpgradeSummary:
    settings = prepare_upgrade(environ, out)
    run = settings.run
    (run.work_dir / "pulumi.log").touch()
    with (run.work_dir / "pulumi.log").open("a", encoding="utf-8") as pulumi_log:
        driver = UpgradableStack(run, environ, pulumi_log)
        import boto3  # noqa: PLC0415 - a dev requirement, needed only for a real run

        session = boto3.Session(region_name=run.region)

        def connect(outputs: Mapping[str, Any]) -> Cluster:
            kubeconfig = run.work_dir / "kubeconfig"
            write_private(kubeconfig, str(outputs["kubeconfig"]))
            return Kubectl(kubeconfig)

        def sweep() -> list[str]:
            return sweep_load_balancers(run.names.cluster, session.client("elb"), session.client("ec2"))

        refreshes = AutoScalingRefreshes(session.client("autoscaling"))
        return run_upgrade(settings, driver, connect, sweep, refreshes, log=log)
