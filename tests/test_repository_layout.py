"""The shape of the code base: the project's own modules import each other without a cycle.

A cycle is found statically, so it fails here even when it only exists for the type checker
(`if TYPE_CHECKING:`) or inside a function, where it would not (yet) break an import at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from conftest import ROOT

PACKAGES = ("components", "tools", "policies", "e2e")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module below the project's packages."""
    return {module_name(path, root): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(tree: ast.AST, importer: str, is_package: bool, modules: Mapping[str, Path]) -> set[str]:
    """The project modules a module imports anywhere: top level, `if TYPE_CHECKING:`, functions."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, importer, is_package)
            names.add(source)
            # `from package import module` imports the submodule itself.
            names.update(f"{source}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        # `import a.b.c` runs a, a.b and a.b.c; the importer's own packages are already running.
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in modules and not importer.startswith(candidate + ".") and candidate != importer:
                found.add(candidate)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = imported_modules(tree, name, path.name == "__init__.py", modules)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    finished: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in finished:
            return None
        for target in sorted(graph.get(module, ())):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        finished.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_project_modules_import_each_other_without_a_cycle() -> None:
    graph = import_graph(ROOT)
    assert {"components.program", "tools.aws_replay", "policies.pack", "e2e.run"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_type_checking_relative_and_from_package_imports(tmp_path: Path) -> None:
    package = tmp_path / "tools"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from tools.sub import b\n")
    (package / "sub" / "b.py").write_text("from . import c\n")
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from tools.a import Thing\n"
    )
    assert find_cycle(import_graph(tmp_path)) == ["tools.a", "tools.sub.b", "tools.sub.c", "tools.a"]
    (package / "sub" / "c.py").write_text("def late() -> None:\n    import tools.sub.b\n")
    assert find_cycle(import_graph(tmp_path)) == ["tools.sub.b", "tools.sub.c", "tools.sub.b"]
    # A module's own packages are running already when it imports them: no cycle.
    (package / "sub" / "c.py").write_text("import tools.sub\nfrom tools import sub\n")
    assert find_cycle(import_graph(tmp_path)) is None
