"""The pinned Go tools (kustomize, kubeconform): installed by `go install` into .tools/bin.
`nox -s e2e`'s kube-apiserver and etcd are built with `go build` from the wrapper modules under
tools/controlplane/ (see CONTROL_PLANES below).

A binary is reused only when `go version -m` says it was built from the pinned module
version, so bumping a pin here is all it takes to upgrade everyone.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import proc
from .errors import ToolError

INSTALL_TIMEOUT = 1200.0  # a first build from an empty Go cache takes minutes on 2 cores


@dataclass(frozen=True)
class Tool:
    name: str
    package: str  # what `go install` builds
    module: str  # the module `go version -m` reports
    version: str


KUSTOMIZE = Tool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2")
KUBECONFORM = Tool("kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform", "github.com/yannh/kubeconform",
                   "v0.8.0")
TOOLS = (KUSTOMIZE, KUBECONFORM)


def tools_dir(root: Path) -> Path:
    return Path(os.environ.get("GITOPS_TOOLS_DIR", root / ".tools" / "bin"))


def installed_version(binary: Path, tool: Tool) -> str | None:
    if not binary.is_file():
        return None
    try:
        done = proc.run(["go", "version", "-m", str(binary)], what="go version -m", timeout=60)
    except ToolError:
        return None
    if done.returncode != 0:
        return None
    out = done.stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and parts[1] == tool.module:
            return parts[2]
    return None


def ensure(tool: Tool, root: Path) -> Path:
    """Return the path of the pinned binary, building it first if it is missing or another version."""
    if shutil.which("go") is None:
        raise ToolError(f"{tool.name} {tool.version} must be built with Go, and 'go' is not on PATH")
    binary = tools_dir(root) / tool.name
    if installed_version(binary, tool) == tool.version:
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Build into a private folder, then rename: a concurrent run never sees half a binary.
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        env = dict(os.environ, GOBIN=tmp, GOFLAGS="-buildvcs=false")
        done = proc.run(["go", "install", f"{tool.package}@{tool.version}"], what=f"go install {tool.name}",
                        timeout=INSTALL_TIMEOUT, env=env)
        if done.returncode != 0:
            raise ToolError(f"go install {tool.package}@{tool.version} failed:\n{done.stderr.strip()}")
        os.replace(Path(tmp) / tool.name, binary)
    found = installed_version(binary, tool)
    if found != tool.version:
        raise ToolError(f"{binary} reports {tool.module} {found}, expected {tool.version}")
    return binary


# --- control-plane binaries for `nox -s e2e`: built with `go build` from the committed modules ---------

# The wrapper modules belong to the tooling, not to the repository it checks (a fleetgen fleet, a test copy).
TOOLING_ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 2400.0  # kube-apiserver from an empty Go build cache: 4-9 min on 2 idle cores, more when shared


@dataclass(frozen=True)
class Built:
    """A binary `go build` makes from a committed wrapper module under tools/ (go.mod + go.sum pin it)."""

    name: str
    module_dir: str  # repository-relative folder holding go.mod
    package: str  # what `go build` builds there
    module: str  # the dependency `go version -m` must report at `version`
    version: str
    ldflags: tuple[str, ...] = ()

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class ControlPlaneLock:
    """One entry per Kubernetes minor the inventory uses: the apiserver of that minor, and its etcd."""

    minor: str
    apiserver: Built
    etcd: Built


def _k8s_version_flags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return (f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean")


ETCD = Built("etcd", "tools/controlplane/etcd-3.6", ".", "go.etcd.io/etcd/server/v3", "v3.6.4")
CONTROL_PLANES: dict[str, ControlPlaneLock] = {
    "1.33": ControlPlaneLock("1.33", Built("kube-apiserver", "tools/controlplane/kube-1.33",
                                           "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes", "v1.33.13",
                                           _k8s_version_flags("v1.33.13")), ETCD),
}


def built_version(binary: Path, module: str) -> str | None:
    """The version of `module` that `go version -m` says `binary` was built with (no network needed)."""
    if not binary.is_file():
        return None
    try:
        done = proc.run(["go", "version", "-m", str(binary)], what="go version -m", timeout=60)
    except ToolError:
        return None
    for line in done.stdout.splitlines() if done.returncode == 0 else []:
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("mod", "dep") and parts[1] == module:
            return parts[2]
    return None


def ensure_built(tool: Built, root: Path, log: Callable[[str], None] = print) -> Path:
    """The binary of `tool`, built first (printing what and how long) when missing or of another version."""
    binary = tools_dir(root) / tool.file_name
    if built_version(binary, tool.module) == tool.version:
        return binary
    if shutil.which("go") is None:
        raise ToolError(f"{tool.name} {tool.version} must be built with Go, and 'go' is not on PATH")
    source = TOOLING_ROOT / tool.module_dir
    if not (source / "go.mod").is_file():
        raise ToolError(f"{tool.module_dir}/go.mod is missing: cannot build {tool.name} {tool.version}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {tool.name} {tool.version} from {tool.module_dir} with go build into {binary.parent} "
        "(first time only; kube-apiserver takes minutes from an empty Go build cache) ...")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        out = Path(tmp) / tool.name
        env = dict(os.environ, GOFLAGS="-buildvcs=false -mod=readonly", GOWORK="off")
        ldflags = " ".join(("-s", "-w", *tool.ldflags))
        done = proc.run(["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(out), tool.package],
                        what=f"go build {tool.name}", timeout=BUILD_TIMEOUT, env=env, cwd=source)
        if done.returncode != 0:
            raise ToolError(f"go build {tool.package} in {tool.module_dir} failed:\n{done.stderr.strip()[-4000:]}")
        found = built_version(out, tool.module)
        if found != tool.version:
            raise ToolError(f"{tool.module_dir} builds {tool.module} {found}, but the lock in tools.py says "
                            f"{tool.version}: update one of them")
        os.replace(out, binary)
    log(f"built {tool.name} {tool.version} in {time.monotonic() - start:.0f} s")
    return binary
