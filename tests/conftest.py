"""Shared fixtures: the program under the offline mock engine, evaluated once per (stack, mode).

    def test_vpc_is_dual_stack(render_graph):
        graph = render_graph("dev")                      # up mode, cached for the session
        preview = render_graph("dev", preview=True)      # preview mode, cached too
        odd = render_graph("dev", overrides={"workerDesiredCapacity": 0, "workerMinSize": 0})   # never cached

Cached graphs are shared between tests: read them, never mutate them. A run with overrides or
a custom `program` is evaluated every time. A program error is cached like a graph and raised
again on every request (with the partial graph: `tools.offline.engine.partial_graph(error)`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.offline.capture import Graph  # noqa: E402 - needs the repository root on sys.path
from tools.offline.engine import run_program_capturing  # noqa: E402
from tools.offline.stackfiles import list_stacks, stack_config  # noqa: E402

STACKS = list_stacks(ROOT)
# Table-driven tests run over every shipped stack file and both engine modes.
EVERY_STACK = pytest.mark.parametrize("stack", STACKS)
MODES = pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])


def cluster_name(stack: str) -> str:
    return stack_config(stack)["k8s-dualstack-aws:clusterName"]


class RenderGraph(Protocol):
    def __call__(
        self,
        stack: str,
        *,
        preview: bool = False,
        overrides: Mapping[str, object] | None = None,
        program: Callable[[], None] | None = None,
    ) -> Graph: ...


_CACHE: dict[tuple[str, bool], tuple[Graph, BaseException | None]] = {}


def _render(
    stack: str,
    *,
    preview: bool = False,
    overrides: Mapping[str, object] | None = None,
    program: Callable[[], None] | None = None,
) -> Graph:
    cacheable = overrides is None and program is None
    key = (stack, preview)
    if cacheable and key in _CACHE:
        graph, error = _CACHE[key]
    else:
        graph, error = run_program_capturing(stack, preview=preview, overrides=overrides, program=program)
        if cacheable:
            _CACHE[key] = (graph, error)
    if error is not None:
        raise error
    return graph


@pytest.fixture(scope="session")
def render_graph() -> RenderGraph:
    """Run the program for a stack under the mock engine (cached per stack and mode); see module doc."""
    return _render


@pytest.fixture(scope="session")
def stacks() -> list[str]:
    """Every stack with a Pulumi.<stack>.yaml."""
    return list(STACKS)
