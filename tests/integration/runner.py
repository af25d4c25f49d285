"""The I/O of the AWS integration run: the Automation API stack, kubectl, the cleanup, in that order.

`run` takes its stack driver, cluster client and sweeper as arguments, so the order it keeps (the
checks only after a successful `up`; the load balancer deleted, AWS swept and the stack destroyed
whatever happened before; the summary always written) is unit-tested with fakes.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from components.settings import PROJECT, IpFamily, parse_settings
from integration.harness import (
    LOAD_BALANCER_SERVICE,
    SMOKE_NAMESPACE,
    Check,
    Names,
    Phase,
    Summary,
    admin_cidrs,
    inline_program,
    load_balancer_check,
    load_balancer_service,
    newest_release_stack,
    node_address_checks,
    node_checks,
    required_plugins,
    service_family_checks,
    shipped_stack_file,
    stack_file,
    throwaway_names,
    workspace_env,
    write_private,
    write_summary,
    write_workspace,
)
from integration.sweep import sweep_load_balancers
from tools.offline.stackfiles import REPO_ROOT, stack_config

DEFAULT_OUT = REPO_ROOT / "build" / "integration"
CHECKIP_URL = "https://checkip.amazonaws.com"
FAMILY_NAMES = {IpFamily.IPV4: "IPv4", IpFamily.IPV6: "IPv6"}
# Stack outputs the checks run, as a person would (README, "Running it for real").
NODE_ADDRESSES_OUTPUT = "verifyNodeAddresses"
SERVICE_FAMILIES_OUTPUT = "verifyServiceFamilies"


@dataclass(frozen=True)
class RunSettings:
    names: Names
    region: str
    kubernetes_version: str
    expected_nodes: int
    primary: str
    families: tuple[str, str]
    admin_cidrs: tuple[str, ...]
    """Who may reach the API server, and the test's LoadBalancer Service."""
    out: Path
    work_dir: Path
    state_dir: Path
    wait_seconds: float = 900.0
    poll_seconds: float = 15.0


class StackDriver(Protocol):
    backend: str

    def up(self) -> None: ...
    def outputs(self) -> dict[str, Any]: ...
    def destroy(self) -> None: ...
    def remove(self) -> None: ...
    def retry_command(self) -> str: ...


class Cluster(Protocol):
    def json(self, *args: str) -> dict[str, Any]: ...
    def shell(self, command: str) -> str: ...
    def apply(self, manifest: Mapping[str, Any]) -> None: ...
    def delete_load_balancer_service(self) -> None: ...


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def phase(summary: Summary, name: str, log: TextIO) -> Iterator[list[bool]]:
    """Times a step and records it; an exception is recorded, never raised (later steps still run).
    Yields a one-element list that is [True] afterwards when the step succeeded."""
    started, done = time.monotonic(), [False]
    print(f"[integration] {name} ...", file=log, flush=True)
    try:
        yield done
        done[0] = True
    except Exception as error:
        summary.phases.append(
            Phase(name, False, round(time.monotonic() - started, 1), f"{type(error).__name__}: {error}")
        )
        print(f"[integration] {name} failed: {error}", file=log, flush=True)
        done[0] = False
        return
    summary.phases.append(Phase(name, True, round(time.monotonic() - started, 1)))
    print(f"[integration] {name} done in {summary.phases[-1].seconds} s", file=log, flush=True)


def wait_for_checks(
    probe: Callable[[], list[Check]],
    name: str,
    *,
    wait_seconds: float,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Check]:
    """`probe` until every check passes or the wait is over; the last result. A probe that raises
    (the API server not answering, a command failing) counts as one failed check."""
    deadline = clock() + wait_seconds
    while True:
        try:
            checks = probe()
        except Exception as error:
            checks = [Check(name, False, f"{type(error).__name__}: {error}")]
        if (checks and all(check.ok for check in checks)) or clock() >= deadline:
            return checks
        sleep(poll_seconds)


def run_checks(
    settings: RunSettings,
    outputs: Mapping[str, Any],
    cluster: Cluster,
    summary: Summary,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The checks a person runs after `pulumi up`, each waited for (the CCM and the smoke pods may
    still be settling); the load balancer Service is created here and deleted by `run`."""

    def waited(probe: Callable[[], list[Check]], name: str) -> list[Check]:
        return wait_for_checks(
            probe, name, wait_seconds=settings.wait_seconds, poll_seconds=settings.poll_seconds, sleep=sleep
        )

    seen: dict[str, Any] = {}

    def nodes() -> list[Check]:
        seen["nodes"] = cluster.json("get", "nodes")
        return node_checks(seen["nodes"], settings.expected_nodes)

    summary.checks += waited(nodes, "nodes")
    names = [node["metadata"]["name"] for node in (seen.get("nodes") or {}).get("items", [])]

    def addresses(text: str) -> list[Check]:
        return node_address_checks(text, names, settings.primary)

    def families(text: str) -> list[Check]:
        return service_family_checks(text, settings.families)

    for output, judge in ((NODE_ADDRESSES_OUTPUT, addresses), (SERVICE_FAMILIES_OUTPUT, families)):
        command = outputs.get(output)
        if not isinstance(command, str):
            summary.checks.append(Check(f"stack output {output}", False, "the stack does not export it"))
            continue
        summary.checks += waited(functools.partial(_judged, judge, cluster, command), output)

    cluster.apply(load_balancer_service(settings.admin_cidrs))

    def load_balancer() -> list[Check]:
        return [load_balancer_check(cluster.json("-n", SMOKE_NAMESPACE, "get", "service", LOAD_BALANCER_SERVICE))]

    summary.checks += waited(load_balancer, "LoadBalancer Service")


def _judged(judge: Callable[[str], list[Check]], cluster: Cluster, command: str) -> list[Check]:
    return judge(cluster.shell(command))


def run(
    settings: RunSettings,
    driver: StackDriver,
    connect: Callable[[Mapping[str, Any]], Cluster],
    sweep: Callable[[], list[str]],
    *,
    log: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """up, the checks, then (always) the load balancer deleted, AWS swept, destroy; the summary written."""
    summary = Summary(
        stack=settings.names.stack,
        cluster=settings.names.cluster,
        kubernetes_version=settings.kubernetes_version,
        region=settings.region,
        backend=driver.backend,
        started=now(),
    )
    cluster: Cluster | None = None
    try:
        with phase(summary, "up", log) as up:
            driver.up()
        if up[0]:
            with phase(summary, "checks", log):
                outputs = driver.outputs()
                cluster = connect(outputs)
                run_checks(settings, outputs, cluster, summary, sleep)
    finally:
        clean_up(summary, driver, cluster, sweep, path=settings.out / "summary.json", log=log)
    return summary


def clean_up(
    summary: Summary,
    driver: StackDriver,
    cluster: Cluster | None,
    sweep: Callable[[], list[str]],
    *,
    path: Path,
    log: TextIO,
) -> None:
    """The end of every run, whatever happened: the load balancer Service deleted, AWS swept, destroy
    (swept and tried once more if it fails), the stack removed, the summary written to `path`."""
    # The CCM's load balancer and its security group are not in the stack: gone before destroy,
    # or the VPC cannot be deleted.
    if cluster is not None:
        with phase(summary, "delete the LoadBalancer Service", log):
            cluster.delete_load_balancer_service()
    with phase(summary, "sweep load balancers the CCM left", log):
        for leftover in sweep():
            print(f"[integration] deleted {leftover}", file=log, flush=True)
    with phase(summary, "destroy", log) as destroyed:
        driver.destroy()
    if not destroyed[0]:
        with phase(summary, "sweep again", log):
            sweep()
        with phase(summary, "destroy, second attempt", log) as destroyed:
            driver.destroy()
    summary.destroyed = destroyed[0]
    if summary.destroyed:
        with phase(summary, "remove the stack", log):
            driver.remove()
    else:
        summary.retry = driver.retry_command()
    summary.finished = now()
    written = write_summary(path, summary)
    print(f"[integration] summary: {written}", file=log, flush=True)


# -- the real thing -------------------------------------------------------------------------------


class Kubectl:
    """kubectl with the stack's kubeconfig; the exported verification commands run in bash with it."""

    def __init__(self, kubeconfig: Path, timeout: float = 120.0) -> None:
        self.kubeconfig = kubeconfig
        self.timeout = timeout

    def _run(self, args: list[str], stdin: str | None = None, timeout: float | None = None) -> str:
        completed = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {completed.stderr.strip()[-1000:]}")
        return completed.stdout

    def json(self, *args: str) -> dict[str, Any]:
        document = json.loads(self._run([*args, "-o", "json"]))
        return document if isinstance(document, dict) else {}

    def shell(self, command: str) -> str:
        completed = subprocess.run(
            ["bash", "-c", command],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"exit {completed.returncode}: {completed.stderr.strip()[-1000:]}")
        return completed.stdout

    def apply(self, manifest: Mapping[str, Any]) -> None:
        self._run(["apply", "-f", "-"], stdin=json.dumps(manifest))

    def delete_load_balancer_service(self) -> None:
        # The service controller's finalizer holds the Service until the CCM deleted the load balancer.
        self._run(
            ["-n", SMOKE_NAMESPACE, "delete", "service", LOAD_BALANCER_SERVICE, "--ignore-not-found", "--timeout=10m"],
            timeout=660,
        )


class AutomationStack:
    """The throwaway stack through the Automation API: the project's program inline, in this interpreter."""

    def __init__(self, settings: RunSettings, environ: Mapping[str, str], log: TextIO) -> None:
        self.settings = settings
        self.log = log
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.passphrase_file = settings.state_dir / f"{settings.names.stack}.passphrase"
        if not self.passphrase_file.exists():
            write_private(self.passphrase_file, os.urandom(24).hex())
        self.env = workspace_env(environ, settings.state_dir, self.passphrase_file.read_text())
        self.backend = self.env.get("PULUMI_BACKEND_URL") or environ.get("PULUMI_BACKEND_URL", "")
        self._stack: Any = None

    def _output(self, text: str) -> None:
        self.log.write(text + "\n")
        self.log.flush()

    def _select(self) -> Any:
        if self._stack is None:
            from pulumi import automation as auto  # noqa: PLC0415 - only where a real run happens

            self._stack = auto.create_or_select_stack(
                stack_name=self.settings.names.stack,
                project_name=PROJECT,
                program=inline_program(),
                opts=auto.LocalWorkspaceOptions(work_dir=str(self.settings.work_dir), env_vars=self.env),
            )
            for plugin, version in required_plugins():
                self._stack.workspace.install_plugin(plugin, f"v{version}")
        return self._stack

    def up(self) -> None:
        self._select().up(on_output=self._output, color="never")

    def outputs(self) -> dict[str, Any]:
        return {key: value.value for key, value in self._select().outputs().items()}

    def destroy(self) -> None:
        if self._stack is None:
            return  # the stack was never created: nothing to destroy
        self._stack.destroy(on_output=self._output, color="never")

    def remove(self) -> None:
        if self._stack is not None:
            self._stack.workspace.remove_stack(self.settings.names.stack)

    def retry_command(self) -> str:
        env = " ".join(f"{key}={value}" for key, value in self.env.items() if key == "PULUMI_BACKEND_URL")
        return (
            f"{env} PULUMI_CONFIG_PASSPHRASE_FILE={self.passphrase_file} "
            f"pulumi destroy --yes --stack {self.settings.names.stack} --cwd {self.settings.work_dir}"
        ).strip()


def public_ipv4(url: str = CHECKIP_URL) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode().strip())


def prepare(
    environ: Mapping[str, str], out: Path = DEFAULT_OUT, token: str | None = None, kubernetes_version: str = ""
) -> RunSettings:
    """The throwaway stack's files in `out/<stack>/` and what the checks expect of it; the newest
    release's stack file, at `kubernetes_version` when given (the upgrade run starts one minor below)."""
    names = throwaway_names(token)
    extra = [cidr for cidr in environ.get("INTEGRATION_ADMIN_CIDRS", "").split(",") if cidr.strip()]
    cidrs = admin_cidrs(None if extra else public_ipv4(), extra)
    region = environ.get("INTEGRATION_REGION") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    work_dir = out / names.stack
    document = stack_file(shipped_stack_file(newest_release_stack()), names, cidrs, region)
    if kubernetes_version:
        document["config"][f"{PROJECT}:kubernetesVersion"] = kubernetes_version
    write_workspace(work_dir, names, document)
    return run_settings(names, work_dir, out)


def run_settings(names: Names, work_dir: Path, out: Path) -> RunSettings:
    """What the checks expect, from the throwaway stack's files as the program itself reads them."""
    settings = parse_settings(stack_config(names.stack, work_dir), names.stack)
    return RunSettings(
        names=names,
        region=settings.region,
        kubernetes_version=settings.release.kubernetes_version,
        expected_nodes=settings.topology.control_plane_count + settings.topology.workers.desired_capacity,
        primary=FAMILY_NAMES[settings.ip_families[0]],
        families=(FAMILY_NAMES[settings.ip_families[0]], FAMILY_NAMES[settings.ip_families[1]]),
        admin_cidrs=tuple(str(cidr) for cidr in settings.network.admin_cidrs),
        out=out,
        work_dir=work_dir,
        state_dir=out / "state",
    )


def run_on_aws(environ: Mapping[str, str], out: Path = DEFAULT_OUT, log: TextIO = sys.stdout) -> Summary:
    settings = prepare(environ, out)
    (settings.work_dir / "pulumi.log").touch()
    with (settings.work_dir / "pulumi.log").open("a", encoding="utf-8") as pulumi_log:
        driver = AutomationStack(settings, environ, pulumi_log)

        def connect(outputs: Mapping[str, Any]) -> Cluster:
            kubeconfig = settings.work_dir / "kubeconfig"
            write_private(kubeconfig, str(outputs["kubeconfig"]))
            return Kubectl(kubeconfig)

        def sweep() -> list[str]:
            import boto3  # noqa: PLC0415 - a dev requirement, needed only for a real run

            session = boto3.Session(region_name=settings.region)
            return sweep_load_balancers(settings.names.cluster, session.client("elb"), session.client("ec2"))

        return run(settings, driver, connect, sweep, log=log)
