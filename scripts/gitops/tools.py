"""The pinned Go tools (kustomize, kubeconform): installed by `go install` into .tools/bin.

A binary is reused only when `go version -m` says it was built from the pinned module
version, so bumping a pin here is all it takes to upgrade everyone.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def source_hash(source: Path) -> str:
    """sha256 of a Go program's own sources (go.mod, go.sum, *.go): its version, for reuse checks."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.iterdir() if p.name in ("go.mod", "go.sum") or p.suffix == ".go"):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def built_hash(binary: Path) -> str | None:
    """The source hash a program of ours was built from (it prints it for `-version`)."""
    if not binary.is_file():
        return None
    try:
        done = proc.run([str(binary), "-version"], what=f"{binary.name} -version", timeout=60)
    except ToolError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_built(source: Path, root: Path) -> Path:
    """Return this repository's Go program at `source` (tools/<name>), built with `go build` into
    .tools/bin, and rebuilt whenever its sources (hence its pinned module versions) change."""
    if shutil.which("go") is None:
        raise ToolError(f"{source.name} must be built with Go, and 'go' is not on PATH")
    binary = tools_dir(root) / source.name
    wanted = source_hash(source)
    if built_hash(binary) == wanted:
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        env = dict(os.environ, GOFLAGS="-buildvcs=false -mod=readonly")
        done = proc.run(["go", "build", "-trimpath", "-ldflags", f"-X main.sourceHash={wanted}",
                         "-o", str(Path(tmp) / source.name), "."], what=f"go build {source.name}",
                        timeout=INSTALL_TIMEOUT, env=env, cwd=source)
        if done.returncode != 0:
            raise ToolError(f"go build of {source.name} failed:\n{done.stderr.strip()}")
        os.replace(Path(tmp) / source.name, binary)
    if built_hash(binary) != wanted:
        raise ToolError(f"{binary} does not report the source hash {wanted} it was just built with")
    return binary
