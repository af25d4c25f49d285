"""The AWS integration run's harness (tests/integration), where it runs without AWS: the prerequisites and
the skip, the throwaway stack's files and the program wiring under the mock engine, the checks on
recorded output, the order of up / checks / cleanup / destroy with fakes, the summary, the cost.

Samples (tests/integration/samples): `nodes-e2e-1.35.json` and `service-nlb-pending-e2e-1.35.json`
are what the real kube-apiserver 1.35.3 returned in `make e2e` after the real AWS CCM v1.35.3 (against
moto) initialised the nodes and took the Service (managedFields dropped); the nodes have no kubelet,
so no Ready condition. `verify-node-addresses-e2e-1.35.txt` is what the stack's `verifyNodeAddresses`
template prints for those nodes.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from integration import harness, runner
from integration.harness import Check, Names

from components.render.smoke import NODE_ADDRESSES_COMMAND, SERVICE_FAMILIES_COMMAND, SERVICE_FAMILIES_EXPECTED
from components.versions import RELEASES
from tools.offline.capture import Graph
from tools.offline.engine import run_program

SAMPLES = ROOT / "tests" / "integration" / "samples"
NAMES = Names(stack="integration-test", cluster="it-test")
ADMIN = "198.51.100.7"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def ready(nodes: dict[str, Any]) -> dict[str, Any]:
    """The recorded nodes as a kubelet would leave them: Ready, the not-ready taint gone."""
    nodes = copy.deepcopy(nodes)
    for node in nodes["items"]:
        node["status"]["conditions"] = [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
        node["spec"]["taints"] = [
            t for t in node["spec"].get("taints", []) if t["key"] != "node.kubernetes.io/not-ready"
        ]
    return nodes


def with_address(service: dict[str, Any], hostname: str) -> dict[str, Any]:
    service = copy.deepcopy(service)
    service["status"] = {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
    return service


# -- prerequisites and the skip ---------------------------------------------------------------


def test_credentials_come_from_the_environment_or_a_profile(tmp_path: Path) -> None:
    assert harness.aws_credentials({}, tmp_path) is None
    keys = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    assert harness.aws_credentials(keys, tmp_path) == "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    assert harness.aws_credentials({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, tmp_path) is None
    assert harness.aws_credentials({"AWS_PROFILE": "sandbox"}, tmp_path) == "profile sandbox (AWS_PROFILE)"
    oidc = {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci"}
    assert harness.aws_credentials(oidc, tmp_path) == "environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)"
    config = tmp_path / ".aws" / "config"
    config.parent.mkdir()
    config.write_text("[default]\nregion = us-east-1\n")  # a region alone is no credential
    assert harness.aws_credentials({}, tmp_path) is None
    config.write_text("[default]\nregion = us-east-1\n[profile sso]\nsso_session = corp\n")
    assert harness.aws_credentials({}, tmp_path) == "profile profile sso (config)"
    credentials = tmp_path / "elsewhere"
    credentials.write_text("[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n")
    found = harness.aws_credentials({"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}, tmp_path)
    assert found == "profile default (elsewhere)"


def test_missing_prerequisites_say_exactly_what_is_missing(tmp_path: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    everything = {"pulumi": "/opt/bin/pulumi", "kubectl": "/opt/bin/kubectl"}
    assert harness.missing_prerequisites(keys, tmp_path, everything.get) == []
    missing = harness.missing_prerequisites({}, tmp_path, {"kubectl": "/opt/bin/kubectl"}.get)
    assert len(missing) == 2
    assert missing[0].startswith("the pulumi CLI (not on PATH")
    assert missing[1].startswith("AWS credentials (none of: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY")
    assert harness.missing_prerequisites(keys, tmp_path, {"pulumi": "/opt/bin/pulumi"}.get) == ["kubectl (not on PATH)"]


def test_the_integration_test_is_not_in_the_default_run_and_skips_cleanly_without_aws(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PULUMI_"))}
    env.update(
        PATH=str(empty_path),  # no pulumi, no kubectl
        HOME=str(tmp_path),  # no ~/.aws
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "tests/integration"]
    default = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert "2 deselected" in default.stdout, default.stdout + default.stderr  # the first `up`, the upgrade
    asked = subprocess.run(
        [*command, "-m", "integration"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = asked.stdout + asked.stderr
    assert asked.returncode == 0, output
    assert "2 skipped" in output
    reasons = {line.split(":")[0].split()[-1]: line for line in output.splitlines() if line.startswith("SKIPPED")}
    assert set(reasons) == {"tests/integration/test_aws_cluster.py", "tests/integration/test_aws_upgrade.py"}
    reason = reasons["tests/integration/test_aws_cluster.py"]
    assert "AWS integration run needs the pulumi CLI (not on PATH" in reason
    assert "kubectl (not on PATH)" in reason
    assert "AWS credentials (none of: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY" in reason
    assert (
        "in-place upgrade run not asked for: make integration UPGRADE=1"
        in reasons["tests/integration/test_aws_upgrade.py"]
    )
    env["INTEGRATION_UPGRADE"] = "1"
    upgrade = subprocess.run(
        [*command[:-1], "-m", "integration", "tests/integration/test_aws_upgrade.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    (reason,) = [line for line in upgrade.stdout.splitlines() if line.startswith("SKIPPED")]
    assert "in-place upgrade run on AWS needs the pulumi CLI (not on PATH" in reason, upgrade.stdout
    assert "kubectl (not on PATH)" in reason and "AWS credentials (none of:" in reason


# -- the throwaway stack ----------------------------------------------------------------------


def test_names_are_unique_per_run_and_valid_cluster_names() -> None:
    first, second = harness.throwaway_names(), harness.throwaway_names()
    assert first != second
    assert re.fullmatch(r"integration-[0-9a-f]{6}", first.stack) and re.fullmatch(r"it-[0-9a-f]{6}", first.cluster)
    with pytest.raises(ValueError, match="lowercase"):
        harness.throwaway_names("Bad_Token")


def test_admin_cidrs_are_the_runner_and_the_extra_ranges() -> None:
    assert harness.admin_cidrs(" 198.51.100.7\n") == ["198.51.100.7/32"]
    assert harness.admin_cidrs(None, ["203.0.113.0/24", " 2001:db8::/32"]) == ["203.0.113.0/24", "2001:db8::/32"]
    with pytest.raises(ValueError, match="no admin CIDR"):
        harness.admin_cidrs(None)
    with pytest.raises(ValueError):
        harness.admin_cidrs(None, ["203.0.113.1/24"])  # host bits set


def test_the_stack_file_is_the_newest_releases_with_the_runs_values(tmp_path: Path) -> None:
    base_stack = harness.newest_release_stack()
    base = harness.shipped_stack_file(base_stack)
    assert str(base["config"]["k8s-dualstack-aws:kubernetesVersion"]) == RELEASES[-1].minor
    document = harness.stack_file(base, NAMES, ["198.51.100.7/32"], "eu-west-1")
    config = document["config"]
    assert config["k8s-dualstack-aws:clusterName"] == "it-test"
    assert config["k8s-dualstack-aws:adminCidrs"] == ["198.51.100.7/32"]
    assert config["k8s-dualstack-aws:smokeWorkload"] is True
    assert config["aws:region"] == "eu-west-1"
    assert config["k8s-dualstack-aws:primaryIpFamily"] == base["config"]["k8s-dualstack-aws:primaryIpFamily"]
    path = harness.write_workspace(tmp_path, NAMES, document)
    assert path == tmp_path / "Pulumi.integration-test.yaml" and yaml.safe_load(path.read_text()) == document
    project = yaml.safe_load((tmp_path / "Pulumi.yaml").read_text())
    assert project["runtime"] == "python" and project["name"] == "k8s-dualstack-aws"
    assert project["config"] == yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"], "the typed defaults"
    assert not list(ROOT.glob("Pulumi.integration-*.yaml")), "nothing written into the repository"


def test_prepare_writes_the_workspace_and_reads_what_to_expect(tmp_path: Path) -> None:
    environ = {"INTEGRATION_ADMIN_CIDRS": "198.51.100.7/32", "AWS_REGION": "us-west-2"}
    settings = runner.prepare(environ, tmp_path, token="abc")  # no address lookup: the ranges are given
    assert settings.names == Names("integration-abc", "it-abc")
    assert settings.work_dir == tmp_path / "integration-abc" and settings.state_dir == tmp_path / "state"
    assert settings.region == "us-west-2"
    assert settings.kubernetes_version == RELEASES[-1].kubernetes_version
    assert settings.expected_nodes == 3  # the control plane and the default two workers
    assert settings.primary == "IPv6" and settings.families == ("IPv6", "IPv4")


def test_workspace_env_uses_a_kept_file_backend_unless_the_user_chose_one(tmp_path: Path) -> None:
    env = harness.workspace_env({}, tmp_path / "state", "pass")
    assert env == {"PULUMI_BACKEND_URL": (tmp_path / "state").resolve().as_uri(), "PULUMI_CONFIG_PASSPHRASE": "pass"}
    chosen = {"PULUMI_BACKEND_URL": "https://api.pulumi.com", "PULUMI_CONFIG_PASSPHRASE_FILE": "/run/pass"}
    assert harness.workspace_env(chosen, tmp_path, "pass") == {}


def test_required_plugins_are_the_installed_sdks() -> None:
    plugins = dict(harness.required_plugins())
    assert set(plugins) == {"aws", "kubernetes", "tls", "random"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in plugins.values()), plugins


@pytest.fixture(scope="module")
def inline_graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """The Automation API's inline program, run by the mock engine on the files the run would write."""
    work_dir = tmp_path_factory.mktemp("integration")
    base = harness.shipped_stack_file(harness.newest_release_stack())
    harness.write_workspace(work_dir, NAMES, harness.stack_file(base, NAMES, [f"{ADMIN}/32"], None))
    return run_program(NAMES.stack, preview=False, program=harness.inline_program(), project_dir=work_dir)


def test_the_inline_program_builds_the_cluster_the_checks_expect(inline_graph: Graph) -> None:
    instances = inline_graph.by_type("aws:ec2/instance:Instance")
    assert [i.name for i in instances] == ["it-test-control-plane-node"]
    (group,) = inline_graph.by_type("aws:autoscaling/group:Group")
    assert (group.name, group.inputs["desiredCapacity"]) == ("it-test-workers", 2)
    (template,) = inline_graph.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    tagged = [i.inputs["tags"] for i in instances] + [
        spec["tags"] for spec in template.inputs["tagSpecifications"] if spec["resourceType"] == "instance"
    ]
    assert all(tags["kubernetes.io/cluster/it-test"] == "owned" for tags in tagged)
    exports = inline_graph.exports
    assert exports["kubernetesVersion"] == RELEASES[-1].kubernetes_version
    assert exports["verifyNodeAddresses"] == NODE_ADDRESSES_COMMAND
    assert exports[runner.SERVICE_FAMILIES_OUTPUT] == SERVICE_FAMILIES_COMMAND
    assert runner.NODE_ADDRESSES_OUTPUT in exports and "kubeconfig" in exports
    api_rules = [
        rule.inputs
        for rule in inline_graph.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if rule.inputs.get("fromPort") == 6443 and (rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6"))
    ]
    assert [rule.get("cidrIpv4") or rule.get("cidrIpv6") for rule in api_rules] == [f"{ADMIN}/32"]


# -- the checks on recorded output ------------------------------------------------------------


def test_node_checks_read_provider_ids_taints_and_readiness() -> None:
    recorded = sample("nodes-e2e-1.35.json")
    checks = {check.name: check for check in harness.node_checks(ready(recorded), expected_count=3)}
    assert all(check.ok for check in checks.values()), [c for c in checks.values() if not c.ok]
    assert checks["ip-10-0-0-10.ec2.internal: providerID aws:///<zone>/i-..."].detail == (
        "aws:///us-east-1a/i-c89fb204729bf79fd (zone us-east-1a)"
    )
    # As recorded (no kubelet): initialised by the CCM, but not Ready.
    as_recorded = harness.node_checks(recorded, expected_count=3)
    assert {c.name.split(": ", 1)[1] for c in as_recorded if not c.ok} == {"Ready"}
    broken = ready(recorded)
    broken["items"][0]["spec"]["providerID"] = "aws:///us-east-1b/i-c89fb204729bf79fd"  # not its zone
    broken["items"][1]["spec"].pop("providerID")
    broken["items"][2]["spec"]["taints"] = [{"key": harness.UNINITIALIZED_TAINT, "effect": "NoSchedule"}]
    failed = [c.name for c in harness.node_checks(broken, expected_count=4) if not c.ok]
    assert failed == [
        "node count",
        "ip-10-0-0-10.ec2.internal: providerID aws:///<zone>/i-...",
        "ip-10-0-0-4.ec2.internal: providerID aws:///<zone>/i-...",
        "ip-10-0-16-4.ec2.internal: initialised by the CCM",
    ]


def test_node_address_checks_read_the_exported_commands_output() -> None:
    output = (SAMPLES / "verify-node-addresses-e2e-1.35.txt").read_text()
    names = [node["metadata"]["name"] for node in sample("nodes-e2e-1.35.json")["items"]]
    parsed = harness.parse_node_addresses(output)
    assert parsed["ip-10-0-0-10.ec2.internal"][:2] == [
        ("InternalIP", "2400:6500:1c4b:f400::a"),
        ("InternalIP", "10.0.0.10"),
    ]
    checks = harness.node_address_checks(output, names, primary="IPv6")
    assert len(checks) == 4 and all(check.ok for check in checks), checks
    assert [c.ok for c in harness.node_address_checks(output, names, primary="IPv4")] == [True, False, False, False]
    only_v4 = re.sub(r"  InternalIP: [0-9a-f:]+:[0-9a-f:]+ \n", "", output)
    failed = [c for c in harness.node_address_checks(only_v4, names, primary="IPv6") if not c.ok]
    assert len(failed) == 3 and all("both families" in c.name for c in failed)
    assert not harness.node_address_checks(output, [*names, "ip-10-0-32-4.ec2.internal"], "IPv6")[0].ok


def test_service_family_checks_read_the_exported_commands_output() -> None:
    output = "\n".join(SERVICE_FAMILIES_EXPECTED) + "\n"
    checks = harness.service_family_checks(output, ["IPv4", "IPv6"])
    assert [(c.name, c.ok) for c in checks] == [
        ("smoke Service answers over IPv4", True),
        ("smoke Service answers over IPv6", True),
    ]
    only_v4 = harness.service_family_checks(SERVICE_FAMILIES_EXPECTED[0] + "\n", ["IPv6", "IPv4"])
    assert [c.ok for c in only_v4] == [False, True] and "no IPv6 line" in only_v4[0].detail
    timeout = "IPv6 fd00:10:96::9c4e -> curl: (28) Connection timed out after 5001 milliseconds\n"
    assert not harness.service_family_checks(timeout, ["IPv6"])[0].ok
    wrong_family = "IPv6 fd00:10:96::9c4e -> 10.244.1.7:43512\n"
    assert not harness.service_family_checks(wrong_family, ["IPv6"])[0].ok


def test_load_balancer_check_waits_for_an_address() -> None:
    pending = sample("service-nlb-pending-e2e-1.35.json")
    assert harness.load_balancer_address(pending) is None
    assert not harness.load_balancer_check(pending).ok
    hostname = "a0d4291e8d5554578-1234567890.us-east-1.elb.amazonaws.com"
    assert harness.load_balancer_check(with_address(pending, hostname)) == Check(
        "LoadBalancer Service gets an address", True, hostname
    )
    manifest = harness.load_balancer_service(["198.51.100.7/32", "2001:db8::/64"])
    assert manifest["spec"]["type"] == "LoadBalancer"
    # agnhost netexec serves /shell: the load balancer is open to the admin CIDRs only.
    assert manifest["spec"]["loadBalancerSourceRanges"] == ["198.51.100.7/32", "2001:db8::/64"]
    assert manifest["metadata"] == {"name": "integration-lb", "namespace": "dualstack-smoke"}


def test_secrets_are_written_private_from_the_start(tmp_path: Path) -> None:
    secret = tmp_path / "kubeconfig"
    secret.write_text("old")
    secret.chmod(0o644)
    harness.write_private(secret, "admin kubeconfig")
    assert secret.read_text() == "admin kubeconfig" and secret.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "passphrase"
    harness.write_private(fresh, "p")
    assert fresh.stat().st_mode & 0o777 == 0o600


# -- the order of the run, with fakes ---------------------------------------------------------


class FakeStack:
    backend = "file:///state"

    def __init__(self, calls: list[str], up_error: Exception | None = None, destroy_errors: int = 0) -> None:
        self.calls, self.up_error, self.destroy_errors = calls, up_error, destroy_errors

    def up(self) -> None:
        self.calls.append("up")
        if self.up_error:
            raise self.up_error

    def outputs(self) -> dict[str, Any]:
        return {
            "kubeconfig": "apiVersion: v1",
            runner.NODE_ADDRESSES_OUTPUT: "verify nodes",
            runner.SERVICE_FAMILIES_OUTPUT: "verify services",
        }

    def destroy(self) -> None:
        self.calls.append("destroy")
        if self.destroy_errors:
            self.destroy_errors -= 1
            raise RuntimeError("DependencyViolation: the VPC has dependencies")

    def remove(self) -> None:
        self.calls.append("remove")

    def retry_command(self) -> str:
        return "pulumi destroy --yes --stack integration-test"


class FakeCluster:
    def __init__(self, calls: list[str], lb_answers: list[dict[str, Any]]) -> None:
        self.calls, self.lb_answers = calls, lb_answers

    def json(self, *args: str) -> dict[str, Any]:
        if args == ("get", "nodes"):
            return ready(sample("nodes-e2e-1.35.json"))
        self.calls.append("get lb")
        return self.lb_answers.pop(0)

    def shell(self, command: str) -> str:
        self.calls.append(command)
        if command == "verify nodes":
            return (SAMPLES / "verify-node-addresses-e2e-1.35.txt").read_text()
        return "\n".join(SERVICE_FAMILIES_EXPECTED) + "\n"

    def apply(self, manifest: Mapping[str, Any]) -> None:
        self.calls.append(f"apply {manifest['kind']} {manifest['metadata']['name']}")

    def delete_load_balancer_service(self) -> None:
        self.calls.append("delete lb")


def run_settings(tmp_path: Path, wait_seconds: float = 60) -> runner.RunSettings:
    return runner.RunSettings(
        names=NAMES,
        region="us-east-1",
        kubernetes_version="1.35.3",
        expected_nodes=3,
        primary="IPv6",
        families=("IPv4", "IPv6"),
        admin_cidrs=("198.51.100.7/32",),
        out=tmp_path,
        work_dir=tmp_path / NAMES.stack,
        state_dir=tmp_path / "state",
        wait_seconds=wait_seconds,
        poll_seconds=5,
    )


def fake_run(
    tmp_path: Path,
    stack: FakeStack,
    calls: list[str],
    lb_answers: list[dict[str, Any]] | None = None,
    wait_seconds: float = 60,
) -> harness.Summary:
    pending = sample("service-nlb-pending-e2e-1.35.json")
    answers = lb_answers if lb_answers is not None else [pending, with_address(pending, "lb.example")]

    def connect(outputs: Mapping[str, Any]) -> runner.Cluster:
        calls.append("connect")
        return FakeCluster(calls, answers)

    def sweep() -> list[str]:
        calls.append("sweep")
        return []

    settings = run_settings(tmp_path, wait_seconds)
    return runner.run(settings, stack, connect, sweep, log=io.StringIO(), sleep=lambda _: None)


def test_a_good_run_checks_then_deletes_the_load_balancer_then_destroys(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_run(tmp_path, FakeStack(calls), calls)
    assert calls == [
        "up",
        "connect",
        "verify nodes",
        "verify services",
        "apply Service integration-lb",
        "get lb",  # pending
        "get lb",  # an address
        "delete lb",
        "sweep",
        "destroy",
        "remove",
    ]
    assert summary.ok, summary.failures()
    document = json.loads((tmp_path / "summary.json").read_text())
    assert document["ok"] is True and document["destroyed"] is True and document["failures"] == []
    assert [phase["name"] for phase in document["phases"]] == [
        "up",
        "checks",
        "delete the LoadBalancer Service",
        "sweep load balancers the CCM left",
        "destroy",
        "remove the stack",
    ]
    assert len(document["checks"]) == 10 + 4 + 2 + 1  # nodes, addresses, families, load balancer


def test_a_failed_up_still_sweeps_and_destroys_and_writes_the_summary(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_run(tmp_path, FakeStack(calls, up_error=RuntimeError("readiness gate gave up")), calls)
    assert calls == ["up", "sweep", "destroy", "remove"]
    assert not summary.ok
    assert summary.failures() == ["phase up: RuntimeError: readiness gate gave up", "no check ran"]
    assert json.loads((tmp_path / "summary.json").read_text())["destroyed"] is True


def test_a_failing_destroy_is_retried_once_then_says_how_to_finish(tmp_path: Path) -> None:
    calls: list[str] = []
    summary = fake_run(tmp_path, FakeStack(calls, destroy_errors=1), calls)
    assert calls[-5:] == ["sweep", "destroy", "sweep", "destroy", "remove"]
    assert summary.destroyed
    calls.clear()
    summary = fake_run(tmp_path, FakeStack(calls, destroy_errors=2), calls)
    assert calls[-4:] == ["sweep", "destroy", "sweep", "destroy"], "no remove: the state is kept"
    assert not summary.destroyed and summary.retry == "pulumi destroy --yes --stack integration-test"
    document = json.loads((tmp_path / "summary.json").read_text())
    assert document["failures"][-1] == "not destroyed; finish with: pulumi destroy --yes --stack integration-test"


def test_a_load_balancer_without_an_address_fails_the_run_but_is_deleted(tmp_path: Path) -> None:
    calls: list[str] = []
    pending = sample("service-nlb-pending-e2e-1.35.json")
    summary = fake_run(tmp_path, FakeStack(calls), calls, lb_answers=[pending], wait_seconds=0)
    assert calls[-5:] == ["get lb", "delete lb", "sweep", "destroy", "remove"]
    assert summary.failures() == ["check LoadBalancer Service gets an address: no ingress yet"]


def test_wait_for_checks_retries_until_they_pass_or_time_runs_out() -> None:
    ticks = iter(range(100))
    results: list[list[Check] | Exception] = [
        [Check("a", False, "")],
        RuntimeError("connection refused"),
        [Check("a", True, "")],
    ]

    def probe() -> list[Check]:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    slept: list[float] = []
    done = runner.wait_for_checks(
        probe, "a", wait_seconds=10, poll_seconds=3, sleep=slept.append, clock=lambda: next(ticks)
    )
    assert done == [Check("a", True, "")] and slept == [3, 3]
    never = runner.wait_for_checks(
        lambda: [Check("b", False, "x")],
        "b",
        wait_seconds=2,
        poll_seconds=1,
        sleep=lambda _: None,
        clock=lambda: next(ticks),
    )
    assert never == [Check("b", False, "x")]


# -- the sweep, against moto ------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    pytest.importorskip("moto", reason="moto comes with requirements-dev.txt")
    from tools.validate.motoserver import moto_server  # noqa: PLC0415 - after the skip

    with moto_server() as url:
        yield url


def test_the_sweep_deletes_the_ccms_load_balancer_and_group_of_this_cluster_only(moto_endpoint: str) -> None:
    import boto3  # noqa: PLC0415

    from tools.aws_replay import TEST_CREDENTIALS  # noqa: PLC0415

    session = boto3.session.Session(region_name="us-east-1", **TEST_CREDENTIALS)
    elb, ec2 = (session.client(name, endpoint_url=moto_endpoint) for name in ("elb", "ec2"))
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def group(name: str, cluster: str) -> str:
        group_id = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[group_id], Tags=[{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}])
        return group_id

    nodes, ours, theirs = (
        group("it-test-worker", "it-test"),
        group("k8s-elb-a1", "it-test"),
        group("k8s-elb-b2", "other"),
    )
    for source in (ours, theirs):  # what the CCM adds to the nodes' group for each load balancer
        ec2.authorize_security_group_ingress(
            GroupId=nodes,
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": source}]}],
        )
    listener = [{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 31009}]
    for name, group_id, cluster in (("a1", ours, "it-test"), ("b2", theirs, "other")):
        elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=listener,
            Subnets=[subnet],
            SecurityGroups=[group_id],
            Tags=[{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}],
        )
    deleted = runner.sweep_load_balancers("it-test", elb, ec2, interval=0)
    assert deleted == ["load balancer a1", f"security group {ours} (k8s-elb-a1)"]
    left = [d["LoadBalancerName"] for d in elb.describe_load_balancers()["LoadBalancerDescriptions"]]
    assert "a1" not in left and "b2" in left
    (node_group,) = ec2.describe_security_groups(GroupIds=[nodes])["SecurityGroups"]
    assert [pair["GroupId"] for rule in node_group["IpPermissions"] for pair in rule["UserIdGroupPairs"]] == [theirs]
    assert runner.sweep_load_balancers("it-test", elb, ec2, interval=0) == []


# -- what one run costs -----------------------------------------------------------------------


def test_the_readmes_cost_of_one_run_is_the_price_tables(inline_graph: Graph) -> None:
    lines = harness.run_cost(inline_graph, hours=0.5)
    total = sum(usd for _, _, usd in lines)
    assert [(item, quantity) for item, quantity, _ in lines] == [
        ("EC2 t3.medium", "3 instances"),
        ("EBS gp3 root volumes", "90 GiB"),
        ("KMS customer-managed keys", "1 key"),
        ("public IPv4 addresses", "3 addresses"),
    ]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## End to end on AWS") :]
    assert f"**${total:.4f}**" in section, f"README should state ${total:.4f}"
    for _, _, usd in lines:
        assert f"${usd:.4f}" in section
