"""The in-place upgrade run of the AWS integration tier (tests/integration/upgrade.py), without AWS: the
order of the run with fakes (also when the upgrade fails, a node stays behind, a control plane was
replaced, nothing is refused, the instance refresh fails or the first checks do), the throwaway stack's
files under the mock engine, and the stack driver and instance-refresh reader with doubles.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from integration import upgrade
from integration.harness import Names, inline_program
from integration.runner import Cluster, RunSettings
from integration.upgrade_checks import refusal_checks, refusal_probe
from test_integration_harness import SAMPLES, sample, with_address
from test_integration_upgrade_checks import (
    CONTROL_PLANE_ID,
    NEW_WORKERS,
    OLD_WORKERS,
    PAIR,
    SOURCE,
    TARGET,
    UPGRADE_STARTED,
    cluster_nodes,
    daemonset,
)

from components.render.smoke import SERVICE_FAMILIES_EXPECTED
from components.settings_reader import ConfigError
from components.version_skew import plan_version_change
from components.versions import release_for
from tools.offline.engine import run_program_capturing

NAMES = Names(stack="integration-test", cluster="it-test")


# -- the order of the run, with fakes -----------------------------------------------------------


class FakeStack:
    """The stack: `up` deploys the configured version (the program's rules are tested elsewhere)."""

    backend = "file:///state"

    def __init__(self, calls: list[str], *, upgrade_error: bool = False, refuses: bool = True) -> None:
        self.calls, self.upgrade_error, self.refuses = calls, upgrade_error, refuses
        self.configured, self.deployed = PAIR.source.minor, ""
        self.control_plane_id = CONTROL_PLANE_ID

    def set_kubernetes_version(self, minor: str) -> None:
        self.calls.append(f"set {minor}")
        self.configured = minor

    def up(self) -> None:
        self.calls.append("up")
        if self.upgrade_error and self.deployed:
            raise RuntimeError("upgrade association of it-test-control-plane-node timed out")
        self.deployed = release_for(self.configured).kubernetes_version

    def preview(self) -> tuple[bool, str]:
        self.calls.append(f"preview {self.configured}")
        try:
            plan_version_change(release_for(self.deployed).version, release_for(self.configured), False)
        except ConfigError as error:
            return not self.refuses, f"Previewing update (integration-test)\nerror: {error}"
        return True, "Previewing update (integration-test)"

    def outputs(self) -> dict[str, Any]:
        return {
            "kubeconfig": "apiVersion: v1",
            "verifyNodeAddresses": "verify nodes",
            "verifyServiceFamilies": "verify services",
            upgrade.CONTROL_PLANE_IDS_OUTPUT: [self.control_plane_id],
            upgrade.WORKER_GROUP_OUTPUT: "it-test-workers",
        }

    def destroy(self) -> None:
        self.calls.append("destroy")

    def remove(self) -> None:
        self.calls.append("remove")

    def retry_command(self) -> str:
        return "pulumi destroy --yes --stack integration-test"


class FakeCluster:
    """Answers from what the stack deployed; `left_behind` keeps one node's kubelet at the old version."""

    def __init__(self, calls: list[str], stack: FakeStack, left_behind: str = "", families: int = 2) -> None:
        self.calls, self.stack, self.left_behind, self.families = calls, stack, left_behind, families

    def json(self, *args: str) -> dict[str, Any]:
        upgraded = self.stack.deployed == TARGET
        if args == ("get", "nodes"):
            nodes = cluster_nodes(
                self.stack.deployed, NEW_WORKERS if upgraded else OLD_WORKERS, self.stack.control_plane_id
            )
            for node in nodes["items"]:
                if node["metadata"]["name"] == self.left_behind:
                    node["status"]["nodeInfo"]["kubeletVersion"] = f"v{SOURCE}"
            return nodes
        if args == ("version",):
            return {"serverVersion": {"gitVersion": f"v{self.stack.deployed}"}}
        if args[-1] == upgrade.CCM_DAEMONSET:
            return daemonset(release_for(self.stack.deployed).ccm_image)
        return with_address(sample("service-nlb-pending-e2e-1.35.json"), "lb.example")

    def shell(self, command: str) -> str:
        if command == "verify nodes":
            return (SAMPLES / "verify-node-addresses-e2e-1.35.txt").read_text()
        return "\n".join(SERVICE_FAMILIES_EXPECTED[: self.families]) + "\n"

    def apply(self, manifest: Mapping[str, Any]) -> None:
        self.calls.append("apply lb")

    def delete_load_balancer_service(self) -> None:
        self.calls.append("delete lb")


class FakeRefreshes:
    def __init__(self, calls: list[str], statuses: list[str]) -> None:
        self.calls, self.statuses = calls, statuses

    def newest(self, group: str) -> Mapping[str, Any] | None:
        self.calls.append(f"refresh {group}")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"Status": status, "StartTime": UPGRADE_STARTED + timedelta(seconds=30)}


def upgrade_settings(tmp_path: Path) -> upgrade.UpgradeSettings:
    run = RunSettings(
        names=NAMES,
        region="us-east-1",
        kubernetes_version=SOURCE,
        expected_nodes=3,
        primary="IPv6",
        families=("IPv6", "IPv4"),
        admin_cidrs=("198.51.100.7/32",),
        out=tmp_path,
        work_dir=tmp_path / NAMES.stack,
        state_dir=tmp_path / "state",
        wait_seconds=0,  # one look: the fake cluster is settled
        poll_seconds=5,
    )
    return upgrade.UpgradeSettings(run, PAIR, PAIR.target.ccm_image, refresh_wait_seconds=600)


def fake_upgrade(
    tmp_path: Path,
    stack: FakeStack,
    calls: list[str],
    *,
    statuses: list[str] | None = None,
    left_behind: str = "",
    families: int = 2,
) -> upgrade.UpgradeSummary:
    def connect(outputs: Mapping[str, Any]) -> Cluster:
        calls.append("connect")
        return FakeCluster(calls, stack, left_behind, families)

    def sweep() -> list[str]:
        calls.append("sweep")
        return []

    ticks = iter(range(100_000))
    return upgrade.run_upgrade(
        upgrade_settings(tmp_path),
        stack,
        connect,
        sweep,
        FakeRefreshes(calls, statuses or ["InProgress", "Successful"]),
        log=io.StringIO(),
        sleep=lambda _: None,
        clock=lambda: next(ticks),
        wall_clock=lambda: UPGRADE_STARTED,
    )


def test_a_good_upgrade_run_goes_in_order_and_writes_its_summary(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls), calls)
    assert calls == [
        "up",
        "connect",
        "apply lb",
        "set 1.35",
        "up",
        "refresh it-test-workers",  # InProgress
        "refresh it-test-workers",  # Successful
        "apply lb",
        "set 1.33",
        "preview 1.33",
        "set 1.35",
        "delete lb",
        "sweep",
        "destroy",
        "remove",
    ]
    assert summary.ok, summary.failures()
    document = json.loads((tmp_path / "upgrade-summary.json").read_text())
    assert (document["kubernetes_version"], document["upgraded_to"], document["refusal_probe"]) == (
        SOURCE,
        TARGET,
        "1.33",
    )
    assert [phase["name"] for phase in document["phases"]] == [
        f"up {SOURCE}",
        f"checks at {SOURCE}",
        f"up {TARGET} (the in-place upgrade)",
        "the workers' instance refresh",
        f"checks at {TARGET}",
        "a preview two minors away, refused",
        "delete the LoadBalancer Service",
        "sweep load balancers the CCM left",
        "destroy",
        "remove the stack",
    ]
    assert all(isinstance(phase["seconds"], float) for phase in document["phases"])
    names = [check["name"] for check in document["checks"]]
    # 17 first-`up` checks and 3 kubelets + 1 at each version; refresh, /version, CCM x2, nodes 6, outputs, refusal x3.
    assert len(names) == 17 + 3 + 1 + 1 + 1 + 2 + 6 + 1 + 17 + 3
    assert f"{SOURCE}: ip-10-0-16-4.ec2.internal: kubelet v{SOURCE}" in names
    assert f"{TARGET}: control planes upgraded in place (the same instances)" in names
    assert f"{TARGET}: LoadBalancer Service gets an address" in names
    assert f"deployed {TARGET}: the refusal says 'back to 1.35'" in names
    assert not (tmp_path / "summary.json").exists(), "the first-`up` run's summary is its own"


def test_a_failed_upgrade_stops_the_rest_and_still_destroys(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls, upgrade_error=True), calls)
    assert calls == ["up", "connect", "apply lb", "set 1.35", "up", "delete lb", "sweep", "destroy", "remove"]
    assert summary.destroyed and not summary.ok
    assert summary.failures() == [
        f"phase up {TARGET} (the in-place upgrade): RuntimeError: upgrade association of it-test-control-plane-node "
        "timed out"
    ]


def test_a_node_left_at_the_old_version_fails_the_run(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls), calls, left_behind="ip-10-0-16-4.ec2.internal")
    assert summary.destroyed and not summary.ok
    assert summary.failures() == [f"check {TARGET}: ip-10-0-16-4.ec2.internal: kubelet v{TARGET}: v{SOURCE}"]


def test_a_replaced_control_plane_fails_the_run(tmp_path: Path) -> None:
    calls: list[str] = []
    stack = FakeStack(calls)
    original_up = stack.up

    def up_replacing() -> None:  # the upgrade replaces the control plane instead of upgrading it
        original_up()
        if stack.deployed == TARGET:
            stack.control_plane_id = "i-0123456789abcdef0"

    stack.up = up_replacing  # type: ignore[method-assign]
    summary = fake_upgrade(tmp_path, stack, calls)
    assert [failure.split(" (the same")[0].split(" unchanged")[0] for failure in summary.failures()] == [
        f"check {TARGET}: control planes upgraded in place",
        f"check {TARGET}: the stack's controlPlaneInstanceIds",
    ]
    assert "after ['i-0123456789abcdef0']" in summary.failures()[0]
    assert calls[-3:] == ["sweep", "destroy", "remove"]


def test_a_preview_that_is_not_refused_fails_the_run(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls, refuses=False), calls)
    assert not summary.ok and summary.destroyed
    assert summary.failures()[0].startswith(f"check deployed {TARGET}: preview of kubernetesVersion 1.33 is refused")
    assert "set 1.35" in calls[calls.index("preview 1.33") :], "the stack's version is put back"


def test_a_failed_instance_refresh_ends_the_wait_and_fails_the_run(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls), calls, statuses=["Failed"])
    assert calls.count("refresh it-test-workers") == 1
    assert summary.failures()[0].startswith(f"check {TARGET}: workers' instance refresh Successful: Failed")
    assert summary.destroyed


def test_failed_first_checks_skip_the_upgrade_and_still_destroy(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_upgrade(tmp_path, FakeStack(calls), calls, families=1)  # the smoke Service answers over IPv4 only
    assert calls == ["up", "connect", "apply lb", "delete lb", "sweep", "destroy", "remove"]
    assert f"phase up {TARGET} (the in-place upgrade): not attempted: at {SOURCE} 1 check(s) failed" in (
        summary.failures()
    )


# -- the real pieces, without AWS ---------------------------------------------------------------


def test_prepare_writes_the_source_stack_and_the_program_upgrades_then_refuses(tmp_path: Path) -> None:
    environ = {"INTEGRATION_ADMIN_CIDRS": "198.51.100.7/32", "AWS_REGION": "us-east-1"}
    settings = upgrade.prepare_upgrade(environ, tmp_path, token="abc")
    assert settings.run.kubernetes_version == SOURCE and settings.pair == PAIR
    assert settings.target_ccm_image == PAIR.target.ccm_image != PAIR.source.ccm_image
    stack, work_dir = settings.run.names.stack, settings.run.work_dir

    def run(version: str, deployed: str, preview: bool) -> tuple[Any, BaseException | None]:
        return run_program_capturing(
            stack,
            preview=preview,
            overrides={"kubernetesVersion": version},
            program=inline_program(),
            project_dir=work_dir,
            deployed_version=deployed,
        )

    graph, error = run(PAIR.target.minor, SOURCE, preview=False)
    assert error is None
    (instance,) = graph.by_type("aws:ec2/instance:Instance")
    assert "userData" in instance.ignore_changes, "the new release's user data does not replace it"
    (association,) = graph.by_type("aws:ssm/association:Association")
    assert association.inputs["targets"] == [{"key": "InstanceIds", "values": [instance.id]}], "upgraded in place"
    probe = refusal_probe(PAIR.target)
    _, error = run(probe.minor, TARGET, preview=True)
    assert isinstance(error, ConfigError)
    assert all(check.ok for check in refusal_checks(probe, True, str(error)))


def test_the_stack_driver_sets_the_version_and_reports_a_failed_preview(tmp_path: Path) -> None:
    recorded: list[tuple[str, Any]] = []

    class AutomationStackDouble:
        def set_config(self, key: str, value: Any) -> None:
            recorded.append((key, value.value))

        def preview(self, on_output: Any, color: str) -> None:
            on_output("Previewing update (integration-test):")
            raise RuntimeError("program failed: 1.35.3 -> 1.33.13 is a downgrade")

    driver = upgrade.UpgradableStack(upgrade_settings(tmp_path).run, {}, io.StringIO())
    driver._stack = AutomationStackDouble()
    driver.set_kubernetes_version("1.33")
    assert recorded == [("k8s-dualstack-aws:kubernetesVersion", "1.33")]
    succeeded, output = driver.preview()
    assert not succeeded
    assert (
        output
        == "Previewing update (integration-test):\nRuntimeError: program failed: 1.35.3 -> 1.33.13 is a downgrade"
    )


def test_the_newest_instance_refresh_is_read_from_auto_scaling() -> None:
    class AutoScalingDouble:
        def __init__(self, refreshes: list[dict[str, Any]]) -> None:
            self.refreshes = refreshes

        def describe_instance_refreshes(self, AutoScalingGroupName: str) -> dict[str, Any]:
            assert AutoScalingGroupName == "it-test-workers"
            return {"InstanceRefreshes": copy.deepcopy(self.refreshes)}

    old = {"InstanceRefreshId": "a", "Status": "Successful", "StartTime": UPGRADE_STARTED - timedelta(days=1)}
    new = {"InstanceRefreshId": "b", "Status": "InProgress", "StartTime": UPGRADE_STARTED}
    pending = {"InstanceRefreshId": "c", "Status": "Pending"}
    assert upgrade.AutoScalingRefreshes(AutoScalingDouble([old, new, pending])).newest("it-test-workers") == new
    assert upgrade.AutoScalingRefreshes(AutoScalingDouble([])).newest("it-test-workers") is None
