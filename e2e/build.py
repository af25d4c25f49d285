"""Build the upstream binaries of the end-to-end tier from the Go module proxy (cached, idempotent).

For each buildable release: kube-apiserver, kubeadm and etcd from `e2e/go/kubernetes-v<version>`
(a module that requires k8s.io/kubernetes with every staging module pinned to its published v0
release, see its go.mod), aws-cloud-controller-manager from `e2e/go/ccm-<tag>`, and etcdctl of the
etcd release that module pins from `e2e/go/etcdctl-<etcd version>` (its own module, so adding it
leaves the kubernetes module's cache key alone). Binaries go to
`$E2E_BIN_DIR` (default `~/.cache/k8s-dualstack-aws/bin`) under a directory keyed by the module's
go.mod and go.sum, the build flags and the Go version, so a second run builds nothing and a
changed module builds afresh.

    python -m e2e.build [--minor 1.35]      # prints the JSON of the built paths
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.versions import Version, newest, release_for

E2E_DIR = Path(__file__).resolve().parent
GO_MODULES = E2E_DIR / "go"
DEFAULT_BIN_DIR = Path.home() / ".cache" / "k8s-dualstack-aws" / "bin"
ETCD_SERVER_MODULE = "go.etcd.io/etcd/server/v3"


@dataclass(frozen=True)
class ReleaseBuild:
    """What is built for one matrix row, and why it differs from the row where it does."""

    minor: str
    ccm_module_version: str
    note: str = ""
    kubernetes_module_version: str = ""
    """The k8s.io/kubernetes patch built when the proxy refuses the row's own (see `note`)."""

    @property
    def kubernetes_version(self) -> str:
        return self.kubernetes_module_version or release_for(self.minor).kubernetes_version

    @property
    def kubernetes_module(self) -> Path:
        return GO_MODULES / f"kubernetes-v{self.kubernetes_version}"

    @property
    def ccm_module(self) -> Path:
        return GO_MODULES / f"ccm-{self.ccm_module_version}"

    @property
    def etcd_version(self) -> str:
        """The etcd server release the kubernetes module pins (`go.etcd.io/etcd/server/v3`)."""
        for line in (self.kubernetes_module / "go.mod").read_text().splitlines():
            parts = line.split()
            if parts[:1] == [ETCD_SERVER_MODULE] and len(parts) >= 2:
                return parts[1]
        raise LookupError(f"{self.kubernetes_module}/go.mod pins no {ETCD_SERVER_MODULE}")

    @property
    def etcdctl_module(self) -> Path:
        """etcdctl of that same etcd release, in its own module (`e2e/go/etcdctl-<version>`)."""
        return GO_MODULES / f"etcdctl-{self.etcd_version}"


# The newest release first. Releases the module proxy cannot build are in UNBUILDABLE.
BUILDS: dict[str, ReleaseBuild] = {
    "1.35": ReleaseBuild(
        minor="1.35",
        ccm_module_version="v1.35.3",
        note=(
            "the matrix's CCM image tag v1.35.2 is refused by the Go module proxy (403 'This module "
            "version is not available'); v1.35.3, the next patch of the same minor, is served and built"
        ),
    ),
    "1.34": ReleaseBuild(
        minor="1.34",
        ccm_module_version="v1.34.3",
        kubernetes_module_version="1.34.5",
        note=(
            "the matrix's kubernetes 1.34.6 is refused by the Go module proxy (403 'This module version "
            "is not available' for k8s.io/kubernetes v1.34.6 and most v0.34.6 staging modules; v1.34.7 "
            "lacks ten v0.34.7 staging modules); v1.34.5, the nearest patch served in full, is built. "
            "The CCM is the row's own tag v1.34.3"
        ),
    ),
}
UNBUILDABLE: dict[str, str] = {
    "1.22": (
        "k8s.io/cloud-provider-aws v1.22.x is not served by the Go module proxy: v1.22.8 (the matrix's "
        "tag) and v1.22.7 answer 403 'This module version is not available', and the proxy's version "
        "list has no 1.22 (or any release before v1.25.0)"
    ),
    "1.21": (
        "k8s.io/cloud-provider-aws v1.21.x is not served by the Go module proxy: v1.21.3 (the matrix's "
        "tag) and v1.21.7 answer 403 'This module version is not available', and the proxy's version "
        "list has no 1.21"
    ),
}


@dataclass(frozen=True)
class Binaries:
    minor: str
    kubernetes_version: str
    ccm_version: str
    kube_apiserver: Path
    kubeadm: Path
    etcd: Path
    ccm: Path
    note: str
    etcdctl: Path | None = None
    """etcdctl of the etcd release the kubernetes module pins; None when `e2e/go` has no module
    for that release (only the HA case needs it, and fails saying so)."""

    def as_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.__dict__.items() if value is not None}


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOMAXPROCS", "2")
    env["GOFLAGS"] = "-trimpath -mod=readonly -buildvcs=false"
    return env


def _go_version(env: dict[str, str]) -> str:
    return subprocess.run(
        ["go", "env", "GOVERSION"], env=env, check=True, capture_output=True, text=True, cwd=GO_MODULES
    ).stdout.strip()


def _version_ldflags(version: str) -> str:
    parsed = Version.parse(version)
    values = {
        "gitVersion": version,
        "gitMajor": str(parsed.major),
        "gitMinor": str(parsed.minor),
        "gitTreeState": "clean",
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{name}={value}" for name, value in values.items()]
    return " ".join(flags)


def _cache_dir(bin_root: Path, module: Path, ldflags: str, go_version: str) -> Path:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module / name).read_bytes())
    digest.update(ldflags.encode())
    digest.update(go_version.encode())
    return bin_root / f"{module.name}-{digest.hexdigest()[:12]}"


def _build(
    module: Path, packages: dict[str, str], version: str, bin_root: Path, env: dict[str, str]
) -> dict[str, Path]:
    """`go build` each upstream main package of `module` (name -> import path) once."""
    ldflags = _version_ldflags(version)
    out_dir = _cache_dir(bin_root, module, ldflags, _go_version(env))
    outputs = {name: out_dir / name for name in packages}
    missing = {name: package for name, package in packages.items() if not outputs[name].exists()}
    for name, package in missing.items():
        out_dir.mkdir(parents=True, exist_ok=True)
        # Per process: two builds of the same binary at once must not rename each other's file.
        partial = out_dir / f".{name}.{os.getpid()}.partial"
        started = time.monotonic()
        print(f"e2e build: {name} ({package}) in {module.relative_to(E2E_DIR.parent)} ...", file=sys.stderr, flush=True)
        subprocess.run(
            ["go", "build", "-p", "2", f"-ldflags={ldflags}", "-o", str(partial), package],
            cwd=module,
            env=env,
            check=True,
        )
        partial.rename(outputs[name])
        print(f"e2e build: {name} built in {time.monotonic() - started:.0f}s -> {outputs[name]}", file=sys.stderr)
    if not missing:
        print(f"e2e build: {', '.join(packages)} cached in {out_dir}", file=sys.stderr)
    return outputs


def build(minor: str, bin_root: Path = DEFAULT_BIN_DIR) -> Binaries:
    if minor in UNBUILDABLE:
        raise RuntimeError(f"release {minor} cannot be built here: {UNBUILDABLE[minor]}")
    if shutil.which("go") is None:
        raise RuntimeError("the end-to-end tier needs the Go toolchain (`go`) on PATH")
    spec = BUILDS[minor]
    env = _go_env()
    kubernetes = _build(
        spec.kubernetes_module,
        {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kubeadm": "k8s.io/kubernetes/cmd/kubeadm",
            "etcd": "go.etcd.io/etcd/server/v3",
        },
        f"v{spec.kubernetes_version}",
        bin_root,
        env,
    )
    ccm = _build(
        spec.ccm_module,
        {
            "aws-cloud-controller-manager": "k8s.io/cloud-provider-aws/cmd/aws-cloud-controller-manager",
        },
        spec.ccm_module_version,
        bin_root,
        env,
    )
    etcdctl: Path | None = None
    if spec.etcdctl_module.is_dir():
        etcdctl = _build(
            spec.etcdctl_module, {"etcdctl": "go.etcd.io/etcd/etcdctl/v3"}, spec.etcd_version, bin_root, env
        )["etcdctl"]
    else:
        print(f"e2e build: no {spec.etcdctl_module.name} module: etcdctl not built for {minor}", file=sys.stderr)
    return Binaries(
        minor=minor,
        kubernetes_version=spec.kubernetes_version,
        ccm_version=spec.ccm_module_version,
        kube_apiserver=kubernetes["kube-apiserver"],
        kubeadm=kubernetes["kubeadm"],
        etcd=kubernetes["etcd"],
        ccm=ccm["aws-cloud-controller-manager"],
        note=spec.note,
        etcdctl=etcdctl,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minor", action="append", help="release minor to build (default: every buildable one)")
    parser.add_argument("--bin-dir", type=Path, default=Path(os.environ.get("E2E_BIN_DIR", DEFAULT_BIN_DIR)))
    args = parser.parse_args(argv)
    minors = args.minor or list(BUILDS)
    if newest().minor not in BUILDS:
        print(f"e2e build: the newest release {newest().minor} has no build entry", file=sys.stderr)
        return 1
    built = [build(minor, args.bin_dir).as_json() for minor in minors]
    print(json.dumps({"built": built, "unbuildable": UNBUILDABLE}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
