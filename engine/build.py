"""Build the engine tier's binaries from the Go module proxy (cached, idempotent).

Each comes from a module of ours under `engine/go/` that pins the upstream release (its go.mod
says why a wrapper module is needed):

- `pulumi`, the CLI (`engine/go/pulumi-cli`), with its release stamped into the SDK's version
  package: unstamped, it reports v0.0.0 and the Automation API refuses `destroy`.
- `pulumi-resource-kubernetes` (`engine/go/pulumi-kubernetes`): upstream's command, with the
  module's schema embedded under the version the installed pulumi_kubernetes SDK asks for.
- `kube-controller-manager` and `kube-scheduler` of the newest e2e release
  (`engine/go/kubernetes-v<version>`, built by e2e.build's builder with its version flags).
- `kwok` (`engine/go/kwok`), which plays the kubelets, and `kwok-stages.yaml` beside it: kwok's own
  stage set from the module (it exits with "no stages found" without one).
- `pulumi-resource-pulumi-python`, a two-line script next to `pulumi` that serves the Python
  dynamic provider (`python -u -m pulumi.dynamic`) with this interpreter.

Binaries go to `$E2E_BIN_DIR` (default `~/.cache/k8s-dualstack-aws/bin`) under a directory keyed
like e2e/build.py's (go.mod, go.sum, build flags, Go version) plus the module's own Go sources, so
a second run builds nothing. Each directory keeps `build-seconds.json`, the measured build time of
every binary built into it.

    python -m engine.build [--only NAME]...     # prints the JSON of the built paths and times
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.versions import newest
from e2e.build import BUILDS, DEFAULT_BIN_DIR, _build, _cache_dir, _go_env, _go_version, _version_ldflags

ENGINE_DIR = Path(__file__).resolve().parent
GO_MODULES = ENGINE_DIR / "go"

PULUMI_VERSION = "v3.274.1"
PULUMI_VERSION_VARIABLE = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"
PROVIDER_VERSION_VARIABLE = f"{PROVIDER_MODULE}/pkg/version.Version"
KWOK_VERSION = "v0.8.0"
KWOK_VERSION_VARIABLE = "sigs.k8s.io/kwok/pkg/consts.Version"
TIMES_FILE = "build-seconds.json"
PYTHON_PLUGIN = "pulumi-resource-pulumi-python"
KWOK_STAGES = "kwok-stages.yaml"
# kwok's own `kustomize/stage/fast` set (node/fast, node/heartbeat-with-lease, pod/fast): without
# stages kwok exits with "no stages found"; these make nodes Ready, renew their leases, and move
# scheduled pods to Running and Ready (and finished or deleted ones on).
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def cache_dir(bin_root: Path, module: Path, ldflags: str, go_version: str) -> Path:
    """`<module name>-<hash>`: e2e.build's key (go.mod, go.sum, flags, Go version) plus the
    module's own `*.go` files, since `engine/go/pulumi-kubernetes/main.go` is the built command."""
    digest = hashlib.sha256()
    for path in [module / "go.mod", module / "go.sum", *sorted(module.glob("*.go"))]:
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    digest.update(ldflags.encode())
    digest.update(go_version.encode())
    return bin_root / f"{module.name}-{digest.hexdigest()[:12]}"


def stamped_ldflags(variable: str, version: str) -> str:
    """Strip symbols and set the upstream release variable, as the upstream release builds do."""
    if not version:
        raise ValueError(f"an empty version for {variable}")
    return f"-s -w -X {variable}={version}"


def kubernetes_plugin_version() -> str:
    """The pulumi-kubernetes plugin version the installed Python SDK requests (pulumi-plugin.json)."""
    spec = importlib.util.find_spec("pulumi_kubernetes")
    if spec is None or spec.origin is None:
        raise RuntimeError("the engine tier needs the pulumi_kubernetes package (pip install -r requirements.txt)")
    manifest = Path(spec.origin).parent / "pulumi-plugin.json"
    version = json.loads(manifest.read_text()).get("version")
    if not isinstance(version, str) or not version:
        raise RuntimeError(f"{manifest} names no plugin version")
    return version.removeprefix("v")


def versioned_schema(schema_text: str, version: str) -> str:
    """What upstream's generate.go writes to schema-embed.json: the schema with `version` set."""
    schema = json.loads(schema_text)
    if not isinstance(schema, dict) or schema.get("name") != "kubernetes":
        raise ValueError("not the pulumi-kubernetes package schema")
    schema["version"] = version
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def compact_json(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def python_plugin_script(python: str) -> str:
    """`pulumi-resource-pulumi-python`: the dynamic provider served by the program's interpreter."""
    return f'#!/bin/sh\nexec {shlex.quote(python)} -u -m pulumi.dynamic "$@"\n'


@dataclass(frozen=True)
class GoBinary:
    name: str
    module: Path
    package: str
    ldflags: str
    stage: Callable[[Path, dict[str, str]], None] | None = None
    """Writes generated files into a copy of the module (the build then runs in that copy)."""


@dataclass(frozen=True)
class Built:
    path: Path
    seconds: float | None
    cached: bool


def _recorded_seconds(out_dir: Path) -> dict[str, float]:
    times = out_dir / TIMES_FILE
    return json.loads(times.read_text()) if times.exists() else {}


def _record_seconds(out_dir: Path, name: str, seconds: float) -> None:
    times = _recorded_seconds(out_dir)
    times[name] = round(seconds, 1)
    (out_dir / TIMES_FILE).write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def _module_dir(module: Path, path: str, env: dict[str, str]) -> Path:
    """The module cache directory of `path` at the version `module`'s go.mod selects."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", path], cwd=module, env=env, check=True, capture_output=True, text=True
    )
    return Path(json.loads(result.stdout)["Dir"])


def _stage_kubernetes_provider(version: str) -> Callable[[Path, dict[str, str]], None]:
    def stage(workdir: Path, env: dict[str, str]) -> None:
        upstream = _module_dir(workdir, PROVIDER_MODULE, env) / "cmd" / "pulumi-resource-kubernetes"
        schema = versioned_schema((upstream / "schema.json").read_text(encoding="utf-8"), version)
        (workdir / "schema-embed.json").write_text(schema, encoding="utf-8")
        mapping = compact_json((upstream / "terraform-mapping.json").read_text(encoding="utf-8"))
        (workdir / "terraform-mapping-embed.json").write_text(mapping, encoding="utf-8")

    return stage


def kwok_stages(kwok_module_dir: Path) -> str:
    """One multi-document file of kwok's stage set, for `kwok --config`."""
    documents = [(kwok_module_dir / name).read_text().strip() for name in KWOK_STAGE_FILES]
    if not all(document.startswith("apiVersion: kwok.x-k8s.io/") for document in documents):
        raise ValueError(f"{kwok_module_dir} has a stage file that is not a kwok object: {KWOK_STAGE_FILES}")
    return "\n---\n".join(documents) + "\n"


def build_go_binary(binary: GoBinary, bin_root: Path, env: dict[str, str], go_version: str) -> Built:
    out_dir = cache_dir(bin_root, binary.module, binary.ldflags, go_version)
    output = out_dir / binary.name
    if output.exists():
        print(f"engine build: {binary.name} cached in {out_dir}", file=sys.stderr)
        return Built(output, _recorded_seconds(out_dir).get(binary.name), cached=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{binary.name}.partial"
    print(f"engine build: {binary.name} ({binary.package}) in {binary.module.name} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"engine-{binary.module.name}-") as scratch:
        workdir = binary.module
        if binary.stage is not None:
            workdir = Path(scratch) / binary.module.name
            shutil.copytree(binary.module, workdir)
            binary.stage(workdir, env)
        command = ["go", "build", "-p", "2", f"-ldflags={binary.ldflags}", "-o", str(partial), binary.package]
        subprocess.run(command, cwd=workdir, env=env, check=True)
    partial.rename(output)
    seconds = time.monotonic() - started
    _record_seconds(out_dir, binary.name, seconds)
    print(f"engine build: {binary.name} built in {seconds:.0f}s -> {output}", file=sys.stderr)
    return Built(output, seconds, cached=False)


def kubernetes_module() -> tuple[Path, str]:
    """engine/go/kubernetes-v<version> of the newest release e2e builds, and that version."""
    version = BUILDS[newest().minor].kubernetes_version
    module = GO_MODULES / f"kubernetes-v{version}"
    if not (module / "go.mod").exists():
        raise RuntimeError(
            f"{module.relative_to(ENGINE_DIR.parent)} is missing: the engine tier builds kube-controller-manager and "
            f"kube-scheduler of the newest e2e release ({version}) from it (see engine/go/kubernetes-v*/go.mod)"
        )
    return module, f"v{version}"


def build_kubernetes_binary(name: str, bin_root: Path, env: dict[str, str]) -> Built:
    """kube-controller-manager or kube-scheduler through e2e.build's builder (same flags, same key)."""
    module, version = kubernetes_module()
    expected = _cache_dir(bin_root, module, _version_ldflags(version), _go_version(env)) / name
    cached = expected.exists()
    started = time.monotonic()
    output = _build(module, {name: f"k8s.io/kubernetes/cmd/{name}"}, version, bin_root, env)[name]
    seconds = time.monotonic() - started
    if cached:
        return Built(output, _recorded_seconds(output.parent).get(name), cached=True)
    _record_seconds(output.parent, name, seconds)
    return Built(output, seconds, cached=False)


def go_binaries() -> list[GoBinary]:
    return [
        GoBinary(
            name="pulumi",
            module=GO_MODULES / "pulumi-cli",
            package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            ldflags=stamped_ldflags(PULUMI_VERSION_VARIABLE, PULUMI_VERSION),
        ),
        GoBinary(
            name="pulumi-resource-kubernetes",
            module=GO_MODULES / "pulumi-kubernetes",
            package=".",
            ldflags=stamped_ldflags(PROVIDER_VERSION_VARIABLE, kubernetes_plugin_version()),
            stage=_stage_kubernetes_provider(kubernetes_plugin_version()),
        ),
        GoBinary(
            name="kwok",
            module=GO_MODULES / "kwok",
            package="sigs.k8s.io/kwok/cmd/kwok",
            ldflags=stamped_ldflags(KWOK_VERSION_VARIABLE, KWOK_VERSION),
        ),
    ]


KUBERNETES_BINARIES = ("kube-controller-manager", "kube-scheduler")


def build(only: list[str] | None = None, bin_root: Path = DEFAULT_BIN_DIR) -> dict[str, Built]:
    if shutil.which("go") is None:
        raise RuntimeError("the engine tier needs the Go toolchain (`go`) on PATH")
    env = _go_env()
    go_version = _go_version(env)
    binaries = {binary.name: binary for binary in go_binaries()}
    known = [*binaries, *KUBERNETES_BINARIES]
    wanted = only or known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"unknown engine binaries {unknown}; known: {known}")
    built: dict[str, Built] = {}
    for name in wanted:
        if name in binaries:
            built[name] = build_go_binary(binaries[name], bin_root, env, go_version)
        else:
            built[name] = build_kubernetes_binary(name, bin_root, env)
    if "kwok" in built:
        stages = built["kwok"].path.parent / KWOK_STAGES
        stages.write_text(kwok_stages(_module_dir(GO_MODULES / "kwok", "sigs.k8s.io/kwok", env)))
        built[KWOK_STAGES] = Built(stages, None, cached=False)
    if "pulumi" in built:
        script = built["pulumi"].path.parent / PYTHON_PLUGIN
        content = python_plugin_script(sys.executable)
        if not script.exists() or script.read_text() != content:
            script.write_text(content)
            script.chmod(0o755)
        built[PYTHON_PLUGIN] = Built(script, None, cached=False)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", help="build only this binary (repeatable)")
    parser.add_argument("--bin-dir", type=Path, default=Path(os.environ.get("E2E_BIN_DIR", DEFAULT_BIN_DIR)))
    args = parser.parse_args(argv)
    built = build(args.only, args.bin_dir)
    print(
        json.dumps(
            {
                "binaries": {name: str(item.path) for name, item in built.items()},
                "build_seconds": {
                    name: round(item.seconds, 1) for name, item in built.items() if item.seconds is not None
                },
                "cached": sorted(name for name, item in built.items() if item.cached),
                "path": sorted({str(item.path.parent) for item in built.values()}),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
