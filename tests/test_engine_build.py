"""engine/build.py without building: the cache key, the version flags and the files it writes."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from engine import build as engine_build

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(r"^\s*(?:require\s+)?(\S+)\s+(v\S+)(?:\s*//.*)?$")


def _go_mod_versions(go_mod: Path) -> dict[str, str]:
    """module -> version of every require line (replace lines `a => b v` give b's version to a)."""
    versions: dict[str, str] = {}
    for line in go_mod.read_text().splitlines():
        if "=>" in line:
            left, right = line.split("=>")
            parts = right.split()
            if len(parts) == 2:
                versions[f"replace {left.split()[-1]}"] = parts[1]
            continue
        match = REQUIREMENT.match(line)
        if match and not line.lstrip().startswith(("module", "go ", "//", "toolchain", "godebug")):
            versions[match.group(1)] = match.group(2)
    return versions


def _module(tmp_path: Path, go_sum: str = "h1\n", main: str | None = None) -> Path:
    module = tmp_path / "pulumi-kubernetes"
    module.mkdir(exist_ok=True)
    (module / "go.mod").write_text("module example\n")
    (module / "go.sum").write_text(go_sum)
    if main is not None:
        (module / "main.go").write_text(main)
    return module


def test_cache_dir_is_stable_and_named_after_the_module(tmp_path: Path) -> None:
    module = _module(tmp_path)
    first = engine_build.cache_dir(tmp_path / "bin", module, "-s -w", "go1.26.8")
    assert first == engine_build.cache_dir(tmp_path / "bin", module, "-s -w", "go1.26.8")
    assert first.parent == tmp_path / "bin"
    assert re.fullmatch(r"pulumi-kubernetes-[0-9a-f]{12}", first.name)


def test_cache_dir_changes_with_every_input(tmp_path: Path) -> None:
    module = _module(tmp_path)
    base = engine_build.cache_dir(tmp_path, module, "-s -w", "go1.26.8")
    assert engine_build.cache_dir(tmp_path, module, "-s -w -X a.B=1", "go1.26.8") != base
    assert engine_build.cache_dir(tmp_path, module, "-s -w", "go1.26.9") != base
    _module(tmp_path, go_sum="h2\n")
    changed_sum = engine_build.cache_dir(tmp_path, module, "-s -w", "go1.26.8")
    assert changed_sum != base
    # The command's own source is part of the key (engine/go/pulumi-kubernetes/main.go is built).
    _module(tmp_path, go_sum="h2\n", main="package main\n")
    with_main = engine_build.cache_dir(tmp_path, module, "-s -w", "go1.26.8")
    _module(tmp_path, go_sum="h2\n", main="package main // changed\n")
    assert len({base, changed_sum, with_main, engine_build.cache_dir(tmp_path, module, "-s -w", "go1.26.8")}) == 4


def test_the_pulumi_cli_is_stamped_with_the_release_its_module_requires() -> None:
    # Unstamped, the CLI reports v0.0.0 and the Automation API refuses `destroy` (issue #15).
    pulumi = next(binary for binary in engine_build.go_binaries() if binary.name == "pulumi")
    required = _go_mod_versions(pulumi.module / "go.mod")["github.com/pulumi/pulumi/pkg/v3"]
    assert required == "v3.274.1"
    assert f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={required}" in pulumi.ldflags
    assert pulumi.ldflags.startswith("-s -w ")


def test_the_provider_carries_the_version_the_python_sdk_requests() -> None:
    # The distribution's own version (pip metadata), an independent source for the plugin it requests.
    expected = importlib.metadata.version("pulumi_kubernetes")
    provider = next(binary for binary in engine_build.go_binaries() if binary.name == "pulumi-resource-kubernetes")
    assert f"-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version={expected}" in provider.ldflags
    assert provider.stage is not None
    assert provider.package == "."


def test_versioned_schema_sets_the_version_and_keeps_the_rest() -> None:
    schema = {"name": "kubernetes", "version": "", "resources": {"kubernetes:core/v1:Pod": {"x": "é"}}}
    written = json.loads(engine_build.versioned_schema(json.dumps(schema), "4.34.2"))
    assert written == {**schema, "version": "4.34.2"}
    with pytest.raises(ValueError, match="not the pulumi-kubernetes package schema"):
        engine_build.versioned_schema(json.dumps({"name": "aws"}), "1.0.0")


def test_stamped_ldflags_refuses_an_empty_version() -> None:
    assert engine_build.stamped_ldflags("a/b.Version", "v1") == "-s -w -X a/b.Version=v1"
    with pytest.raises(ValueError, match="empty version"):
        engine_build.stamped_ldflags("a/b.Version", "")


def test_python_plugin_script_is_two_lines_running_the_dynamic_provider() -> None:
    script = engine_build.python_plugin_script("/opt/my venv/bin/python")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert len(lines) == 2
    assert shlex.split(lines[1]) == ["exec", "/opt/my venv/bin/python", "-u", "-m", "pulumi.dynamic", "$@"]


def test_kwok_is_stamped_with_the_release_its_module_requires() -> None:
    kwok = next(binary for binary in engine_build.go_binaries() if binary.name == "kwok")
    required = _go_mod_versions(kwok.module / "go.mod")["sigs.k8s.io/kwok"]
    assert kwok.ldflags.endswith(f"-X sigs.k8s.io/kwok/pkg/consts.Version={required}")


def test_the_engine_kubernetes_module_pins_what_the_e2e_module_pins() -> None:
    # The controller-manager and scheduler must be the release the e2e API server is built from.
    engine_module, version = engine_build.kubernetes_module()
    e2e = _go_mod_versions(ROOT / "e2e" / "go" / engine_module.name / "go.mod")
    engine = _go_mod_versions(engine_module / "go.mod")
    assert engine["k8s.io/kubernetes"] == version
    shared = set(e2e) & set(engine)
    assert len(shared) > 50
    assert {name: engine[name] for name in shared} == {name: e2e[name] for name in shared}


def test_kwok_stages_joins_kwoks_stage_files_and_refuses_anything_else(tmp_path: Path) -> None:
    for index, name in enumerate(engine_build.KWOK_STAGE_FILES):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: s{index}\n")
    documents = [document for document in yaml.safe_load_all(engine_build.kwok_stages(tmp_path)) if document]
    assert [document["metadata"]["name"] for document in documents] == [
        f"s{index}" for index in range(len(engine_build.KWOK_STAGE_FILES))
    ]
    # Nodes need the Ready stage and pods the Running/Ready one, or nothing the engine awaits finishes.
    assert any(name.endswith("node-initialize.yaml") for name in engine_build.KWOK_STAGE_FILES)
    assert any(name.endswith("pod-ready.yaml") for name in engine_build.KWOK_STAGE_FILES)
    (tmp_path / engine_build.KWOK_STAGE_FILES[0]).write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(ValueError, match="not a kwok object"):
        engine_build.kwok_stages(tmp_path)
