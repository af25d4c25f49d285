"""The real kubeadm binaries tools/validate/kubeadm.py runs: what each release of kubeadm reads,
and where its binary comes from (built from the Go module proxy, cached).

`make validate` uses `CI_VERSIONS`: kubeadm of the newest release row, from the e2e tier's module
(`e2e/go/kubernetes-v<version>`, so the binary e2e already built is reused), and kubeadm 1.21.14
from `tools/validate/go/kubeadm-v1.21.14` for the one API the newest kubeadm no longer reads
(kubeadm.k8s.io/v1beta2). `python -m tools.validate.kubeadm --own-kubeadm` builds every row's own
kubeadm, generating its module under `tools/validate/go/` first (`new_module`).
Facts and sources: docs/reference/kubeadm-validate.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from components.versions import KubeadmApi, Version, newest
from e2e.build import DEFAULT_BIN_DIR, GO_MODULES, _build, _cache_dir, _go_env, _go_version, _version_ldflags
from tools.validate.common import ToolMissing

GO_DIR = Path(__file__).resolve().parent / "go"
KUBEADM_PACKAGE = "k8s.io/kubernetes/cmd/kubeadm"
KUBERNETES_MODULE = "k8s.io/kubernetes"
VALIDATE_COMMAND_FROM = Version(1, 28)
"""`kubeadm config validate` first ships in 1.28 (kubernetes#118013); older kubeadm has `config migrate`."""
READS: dict[KubeadmApi, tuple[Version, Version | None]] = {
    KubeadmApi.V1BETA2: (Version(1, 15), Version(1, 26)),  # deprecated in 1.26, refused from 1.27
    KubeadmApi.V1BETA3: (Version(1, 22), None),  # deprecated from 1.31, still read by 1.35
    KubeadmApi.V1BETA4: (Version(1, 31), None),  # 1.28-1.30 only behind --allow-experimental-api
}
"""The kubeadm releases (first, last or None for still read) that read each configuration API."""
OLD_API = KubeadmApi.V1BETA2
CI_VERSIONS: tuple[str, ...] = (newest().kubernetes_version, "1.21.14")
REFLECT2_FIX = "github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee"
"""What kubernetes 1.35.3 pins: older reflect2 (v1.0.1 up to kubernetes 1.23) reads Go runtime map
internals that changed in Go 1.18 and again in Go 1.24 (modern-go/reflect2#24, #32)."""

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Kubeadm:
    version: Version
    path: Path

    @property
    def has_validate(self) -> bool:
        return self.version >= VALIDATE_COMMAND_FROM

    def reads(self, api: KubeadmApi) -> bool:
        first, last = READS[api]
        return first <= self.version and (last is None or Version(last.major, last.minor, 999) >= self.version)

    def accepts_control_plane(self, kubernetes: Version) -> bool:
        """kubeadm init refuses a `kubernetesVersion` below one minor under its own
        (constants.MinimumControlPlaneVersion); newer ones it accepts."""
        return kubernetes >= Version(self.version.major, self.version.minor - 1)

    def __str__(self) -> str:
        return f"kubeadm v{self.version}"


def module_dir(version: str) -> Path:
    """The e2e tier's module for the newest release, else `tools/validate/go/kubeadm-v<version>`."""
    e2e_module = GO_MODULES / f"kubernetes-v{version}"
    return e2e_module if (e2e_module / "go.mod").is_file() else GO_DIR / f"kubeadm-v{version}"


def cached(version: str, bin_root: Path = DEFAULT_BIN_DIR) -> Kubeadm | None:
    """The built kubeadm of `version` if it is in the cache (never builds)."""
    module = module_dir(version)
    if shutil.which("go") is None or not (module / "go.sum").is_file():
        return None
    path = _cache_dir(bin_root, module, _version_ldflags(f"v{version}"), _go_version(_go_env())) / "kubeadm"
    return Kubeadm(Version.parse(version), path) if path.is_file() else None


def ensure(version: str, bin_root: Path = DEFAULT_BIN_DIR, generate: bool = False) -> Kubeadm:
    """kubeadm of `version`, built once (a cold build takes minutes); `generate` writes its module first."""
    with _LOCK:  # the validators run in threads; one build of each module
        found = cached(version, bin_root)
        if found:
            return found
        if shutil.which("go") is None:
            raise ToolMissing(f"kubeadm v{version} is not built and the Go toolchain (`go`) is not on PATH")
        module = module_dir(version)
        if not (module / "go.sum").is_file():
            if not generate:
                raise ToolMissing(f"no Go module {module} for kubeadm v{version} (`--own-kubeadm` generates it)")
            new_module(version)
        built = _build(module, {"kubeadm": KUBEADM_PACKAGE}, f"v{version}", bin_root, _go_env())
        return Kubeadm(Version.parse(version), built["kubeadm"])


def _go(args: list[str], cwd: Path) -> str:
    env = {**_go_env(), "GOFLAGS": "-mod=mod"}
    completed = subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} in {cwd} exited {completed.returncode}: {completed.stderr[-2000:]}")
    return completed.stdout


def _staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The modules k8s.io/kubernetes replaces with a directory of its own tree (staging/src/k8s.io)."""
    return re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./staging/\S+", kubernetes_go_mod, re.MULTILINE)


def _go_directive(go_mod: str) -> str:
    match = re.search(r"^go\s+(\S+)", go_mod, re.MULTILINE)
    if not match:
        raise ValueError("k8s.io/kubernetes go.mod states no go version")
    return match.group(1)


def new_module(version: str) -> Path:
    """Write `tools/validate/go/kubeadm-v<version>` (go.mod, tools.go) and `go mod tidy` its go.sum.

    k8s.io/kubernetes cannot be required as is: it requires each staging module at v0.0.0 and
    replaces it with a directory, so the module replaces each with its published v0 release."""
    parsed = Version.parse(version)
    module = GO_DIR / f"kubeadm-v{version}"
    module.mkdir(parents=True, exist_ok=True)
    download = json.loads(_go(["mod", "download", "-json", f"{KUBERNETES_MODULE}@v{version}"], module))
    upstream = Path(download["GoMod"]).read_text(encoding="utf-8")
    staging = _staging_modules(upstream)
    if not staging:
        raise RuntimeError(f"{KUBERNETES_MODULE} v{version} go.mod names no staging modules")
    replaces = "\n".join(f"\t{name} => {name} v0.{parsed.minor}.{parsed.patch}" for name in staging)
    (module / "go.mod").write_text(
        f"// kubeadm of {KUBERNETES_MODULE} v{version} for tools/validate/kubeadm.py. {KUBERNETES_MODULE}\n"
        "// replaces every k8s.io staging module with a local directory and requires it at v0.0.0, so this\n"
        f"// module replaces each with its published v0 release. Generated by tools/validate/kubeadm_build.py\n"
        "// (new_module); go.sum by `go mod tidy`.\n"
        "module k8sdualstackaws.validate/kubeadm\n\n"
        f"go {_go_directive(upstream)}\n\n"
        "require (\n"
        "\t// Older reflect2 reads Go runtime map internals that changed in Go 1.18 and 1.24; this is\n"
        "\t// kubernetes 1.35.3's pin, so kubeadm's JSON/YAML decoding works with today's Go.\n"
        f"\t{REFLECT2_FIX}\n"
        f"\t{KUBERNETES_MODULE} v{version}\n"
        ")\n\n"
        f"replace (\n{replaces}\n)\n",
        encoding="utf-8",
    )
    (module / "tools.go").write_text(
        "//go:build tools\n// +build tools\n\n"
        "// Package tools pins kubeadm's packages (a main package cannot be imported), so `go mod tidy`\n"
        "// keeps go.sum complete for the kubeadm that tools/validate/kubeadm_build.py builds.\n"
        'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubeadm/app"\n)\n',
        encoding="utf-8",
    )
    _go(["mod", "tidy", f"-compat={_go_directive(upstream)}"], module)
    return module
