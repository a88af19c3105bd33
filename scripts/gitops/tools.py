"""The pinned Go tools (kustomize, kubeconform): installed by `go install` into .tools/bin.

A binary is reused only when `go version -m` says it was built from the pinned module
version, so bumping a pin here is all it takes to upgrade everyone.
"""
from __future__ import annotations

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
