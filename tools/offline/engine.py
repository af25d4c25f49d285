"""Run the real Pulumi program in-process against the mock engine and return what it registered.

Isolation: Pulumi keeps its runtime state (settings, root Stack, config, pending outputs) in
context variables, and `set_mocks` only creates a root Stack when none exists. Each run
therefore happens in a copy of the caller's `contextvars` context with that state reset, on
a fresh asyncio event loop that is closed afterwards; nothing leaks into the caller or into
the next run, so any number of runs (stacks x preview/up) can share one pytest process.

The program runs inside `pulumi.runtime.stack.run_pulumi_func`, as under `pulumi up`: every
RPC and every `apply` has finished when `run_program` returns. Stack outputs are registered
after the program, like `run_in_stack` does (the mock runtime registers the root Stack's
outputs before the program runs, so `pulumi.export`s would otherwise never reach the monitor).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pulumi
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import massage, run_pulumi_func

from components.deployed_state import deployed_version_parameter
from tools.offline.capture import CapturingMonitor, Graph
from tools.offline.mocks import OfflineMocks
from tools.offline.stackfiles import REPO_ROOT, project_name, stack_config

PARTIAL_GRAPH_ATTRIBUTE = "offline_graph"
DEFAULT_REGION = "us-east-1"


def default_program(project_dir: Path = REPO_ROOT) -> Callable[[], None]:
    """The project's composition root, `components.program.run`."""

    def program() -> None:
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        importlib.import_module("components.program").run()

    return program


def partial_graph(error: BaseException) -> Graph | None:
    """The graph captured up to the failure, attached to an exception raised by `run_program`."""
    graph = getattr(error, PARTIAL_GRAPH_ATTRIBUTE, None)
    return graph if isinstance(graph, Graph) else None


def run_program(
    stack: str,
    *,
    preview: bool,
    overrides: Mapping[str, object] | None = None,
    program: Callable[[], None] | None = None,
    project_dir: Path = REPO_ROOT,
    deployed_version: str | None = None,
) -> Graph:
    """Run `program` (default: `components.program.run`) for `stack`; return the captured graph.

    `overrides` replace stack config keys (see `stackfiles.stack_config`). An exception of the
    program (e.g. `ConfigError`) propagates unchanged, carrying the partial graph as
    `error.offline_graph` (see `partial_graph`).
    """
    graph, error = run_program_capturing(
        stack,
        preview=preview,
        overrides=overrides,
        program=program,
        project_dir=project_dir,
        deployed_version=deployed_version,
    )
    if error is not None:
        raise error
    return graph


def run_program_capturing(
    stack: str,
    *,
    preview: bool,
    overrides: Mapping[str, object] | None = None,
    program: Callable[[], None] | None = None,
    project_dir: Path = REPO_ROOT,
    deployed_version: str | None = None,
) -> tuple[Graph, BaseException | None]:
    """Like `run_program`, but returns `(graph, error)` instead of raising the program's error.

    `deployed_version`: the Kubernetes version the stack recorded in SSM after its last complete `up`
    (components/deployed_state.py); None, a stack that has never been deployed."""
    project = project_name(project_dir)
    config = stack_config(stack, project_dir, overrides)
    mocks = OfflineMocks(region=config.get("aws:region") or DEFAULT_REGION, preview=preview)
    if deployed_version is not None:
        prefix = f"/{project}/{config[f'{project}:clusterName']}"
        mocks.ssm_parameters[deployed_version_parameter(prefix)] = deployed_version
    monitor = CapturingMonitor(mocks)
    body = program or default_program(project_dir)
    context = contextvars.copy_context()
    error = context.run(
        functools.partial(
            _run_isolated,
            body,
            monitor=monitor,
            mocks=mocks,
            project=project,
            stack=stack,
            preview=preview,
            config=config,
            project_dir=project_dir,
        )
    )
    graph = monitor.graph(project=project, stack_name=stack, preview=preview)
    if error is not None:
        with contextlib.suppress(AttributeError):  # exceptions with __slots__
            setattr(error, PARTIAL_GRAPH_ATTRIBUTE, graph)
    return graph, error


def _reset_runtime_state(project_dir: Path) -> None:
    """Forget the previous run: no root Stack, no pending outputs, no config, no secret keys."""
    pulumi_settings.ROOT.set(None)
    # MockSettings leaves these alone; in a copied context they would be the caller's objects.
    pulumi_settings.SETTINGS.outputs = set()
    pulumi_settings.SETTINGS.lock = threading.Lock()
    pulumi_settings.SETTINGS.package_refs = {}
    pulumi_settings.SETTINGS.base_providers_by_ref = {}
    pulumi_settings.SETTINGS.root_directory = str(project_dir)  # pulumi.get_root_directory(): Pulumi.yaml's
    pulumi_config.CONFIG.set({})
    pulumi_config._SECRET_KEYS.set(set())


def _run_isolated(
    body: Callable[[], None],
    *,
    monitor: CapturingMonitor,
    mocks: OfflineMocks,
    project: str,
    stack: str,
    preview: bool,
    config: dict[str, str],
    project_dir: Path,
) -> BaseException | None:
    """Runs inside a fresh copy of the context (see module docstring); returns the program's error."""
    previous_loop = _current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    error: BaseException | None = None
    try:
        _reset_runtime_state(project_dir)
        pulumi.runtime.set_all_config(config, [])
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)

        def main() -> None:
            body()
            root = pulumi_settings.get_root_resource()
            if isinstance(root, pulumi.runtime.stack.Stack):
                # What run_in_stack's Stack._finish does after a real program.
                root.register_outputs(massage(root.outputs, []))

        loop.run_until_complete(run_pulumi_func(main))
    except Exception as exc:  # handed to the caller with the partial graph
        error = exc
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            asyncio.set_event_loop(previous_loop)
    return error


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The thread's current loop without creating one (the policy's getter would)."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None
