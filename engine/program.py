"""The program under test: the project's own cluster-side components in an Automation API inline
program, run by the real Pulumi engine (the CLI and the Kubernetes provider engine/build.py built)
against the engine tier's API server.

`ClusterAccess` with its real readiness and version gates (dynamic resources, served by
`pulumi-resource-pulumi-python`), then `install_cluster_side` (the CCM and the smoke workload), fed as the AWS
side would feed them: the endpoint, the render's cluster CA and front-proxy CA, an admin client
certificate. Cilium is left out: its chart needs a chart repository this machine cannot reach.
The state lives in a local file backend; secrets are encrypted with a passphrase of the run.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi import automation as auto

from components.cluster_side import ClusterAccess, ClusterAccessArgs, ClusterSideArgs, install_cluster_side
from components.settings import IpFamily
from components.versions import Release

PROJECT = "k8s-dualstack-engine"
STACK = "engine"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ProgramInputs:
    """What the AWS side of the program would hand the cluster side."""

    release: Release
    cluster_name: str
    region: str
    zone: str
    ip_families: tuple[IpFamily, IpFamily]
    ccm_image: str
    endpoint: str
    cluster_ca_cert_pem: str
    front_proxy_ca_cert_pem: str
    admin_cert_pem: str
    admin_key_pem: str


def cluster_side_program(inputs: ProgramInputs) -> Callable[[], None]:
    """The inline program: what components/program.py builds after the control plane (`ClusterAccess`,
    then `install_cluster_side`), with Cilium off."""

    def program() -> None:
        name = inputs.cluster_name
        access = ClusterAccess(
            f"{name}-cluster",
            ClusterAccessArgs(
                cluster_name=name,
                endpoint=inputs.endpoint,
                cluster_ca_cert_pem=inputs.cluster_ca_cert_pem,
                admin_cert_pem=inputs.admin_cert_pem,
                admin_key_pem=inputs.admin_key_pem,
                control_plane=[],
                kubernetes_version=inputs.release.kubernetes_version,
            ),
        )
        side = install_cluster_side(
            ClusterSideArgs(
                release=inputs.release,
                cluster_name=name,
                region=inputs.region,
                zone=inputs.zone,
                ip_families=inputs.ip_families,
                ccm_image=inputs.ccm_image,
                smoke_workload=True,
                api_server_host=inputs.endpoint,
                cluster_ca_cert_pem=inputs.cluster_ca_cert_pem,
                front_proxy_ca_cert_pem=inputs.front_proxy_ca_cert_pem,
                provider=access.provider,
                cilium=False,
            )
        )
        assert side.smoke is not None
        pulumi.export("endpoint", access.ready.endpoint)
        pulumi.export("cloudConfig", side.ccm.cloud_config)
        pulumi.export("serviceClusterIps", side.smoke.service_cluster_ips)

    return program


@dataclass(frozen=True)
class EnginePaths:
    root: Path
    """build/engine: the backend, PULUMI_HOME and the workspace live under it."""

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @property
    def pulumi_home(self) -> Path:
        return self.root / "pulumi-home"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def cli_root(self) -> Path:
        """`<root>/bin/pulumi`, the layout auto.PulumiCommand(root=...) expects."""
        return self.root / "cli"


def engine_environment(plugin_dirs: list[Path], paths: EnginePaths, passphrase: str) -> dict[str, str]:
    """The CLI's environment: the built plugins first on PATH, a private PULUMI_HOME, no update
    check, no plugin download (every plugin must be the one built here), the passphrase secrets
    provider's passphrase, and the repository importable by the dynamic provider's process."""
    return {
        "PATH": os.pathsep.join([*map(str, plugin_dirs), os.environ.get("PATH", "/usr/bin:/bin")]),
        "PULUMI_HOME": str(paths.pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }


AWAIT_ENV_PREFIX = "PULUMI_K8S_"
"""The Kubernetes provider reads its options from PULUMI_K8S_* variables too (skipping awaits,
mutable ConfigMaps, ...): none may leak in from the caller's environment."""


def drop_provider_overrides(environ: MutableMapping[str, str]) -> list[str]:
    """Remove every PULUMI_K8S_* variable from `environ`; the names removed."""
    names = sorted(name for name in environ if name.startswith(AWAIT_ENV_PREFIX))
    for name in names:
        del environ[name]
    return names


def new_passphrase() -> str:
    return secrets.token_urlsafe(24)


def make_stack(
    inputs: ProgramInputs, pulumi_binary: Path, plugin_dirs: list[Path], paths: EnginePaths, passphrase: str
) -> auto.Stack:
    """A fresh stack in the local file backend under `paths.root`, for the inline program of `inputs`."""
    for directory in (paths.backend, paths.pulumi_home, paths.workspace, paths.cli_root / "bin"):
        directory.mkdir(parents=True, exist_ok=True)
    link = paths.cli_root / "bin" / "pulumi"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(pulumi_binary)
    env = engine_environment(plugin_dirs, paths, passphrase)
    # The CLI's children (the plugins) inherit the SDK's os.environ merged with env_vars; the
    # dynamic provider runs `python -m pulumi.dynamic`, which must import `components`.
    os.environ["PATH"] = env["PATH"]
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    command = auto.PulumiCommand(root=str(paths.cli_root))
    return auto.create_or_select_stack(
        stack_name=STACK,
        project_name=PROJECT,
        program=cluster_side_program(inputs),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(paths.workspace),
            pulumi_home=str(paths.pulumi_home),
            env_vars=env,
            secrets_provider="passphrase",
            pulumi_command=command,
            project_settings=auto.ProjectSettings(
                name=PROJECT,
                runtime="python",
                backend=auto.ProjectBackend(url=paths.backend.resolve().as_uri()),
            ),
        ),
    )


def set_program(stack: auto.Stack, inputs: ProgramInputs) -> None:
    """The same stack, the program fed with changed inputs (the next `preview`/`up` sees them)."""
    stack.workspace.program = cluster_side_program(inputs)


@dataclass
class EventLog:
    """The engine's per-resource events of one operation: (op, type, urn) in arrival order."""

    steps: list[tuple[str, str, str]]
    diagnostics: list[str]

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            metadata = pre.metadata
            self.steps.append((_op(metadata.op), metadata.type, metadata.urn))
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity in ("error", "warning"):
            line = f"{diagnostic.severity}: {diagnostic.message.strip()}"[:2000]
            if line not in self.diagnostics:
                self.diagnostics.append(line)


def _op(op: Any) -> str:
    return str(getattr(op, "value", op))


def new_event_log() -> EventLog:
    return EventLog(steps=[], diagnostics=[])


def print_output(line: str) -> None:
    print(f"  pulumi: {line}", file=sys.stderr, flush=True)
