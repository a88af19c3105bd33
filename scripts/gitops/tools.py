"""The pinned Go tools (kustomize, kubeconform, actionlint): installed by `go install` into .tools/bin
(or GITOPS_TOOLS_DIR).

A binary is reused only when it reports the pinned version itself (`kustomize version`,
`kubeconform -v`, `actionlint -version`), so bumping a pin here is all it takes to upgrade everyone.
When Go is on PATH, `go version -m` must also say it was built from the pinned module; without Go,
binaries already in the tools folder (built earlier, or copied in) are used as they are.
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
    version_args: tuple[str, ...]  # how the binary prints its own version (first word of the output)
    ldflags: str = ""  # set the version a plain `go install` would leave as "development"


KUSTOMIZE = Tool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "sigs.k8s.io/kustomize/kustomize/v5", "v5.8.2",
                 ("version",))
KUBECONFORM = Tool("kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform", "github.com/yannh/kubeconform",
                   "v0.8.0", ("-v",), ldflags="-X main.version=v0.8.0")
ACTIONLINT = Tool("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "github.com/rhysd/actionlint",
                  "v1.7.12", ("-version",))  # tests only: lints .github/workflows/
TOOLS = (KUSTOMIZE, KUBECONFORM, ACTIONLINT)
GO_FIX = ("install Go 1.22 or newer (https://go.dev/doc/install) and put `go` on PATH, or place the pinned "
          "binaries in {folder} (GITOPS_TOOLS_DIR chooses that folder)")


def tools_dir(root: Path) -> Path:
    return Path(os.environ.get("GITOPS_TOOLS_DIR", root / ".tools" / "bin"))


def reported_version(binary: Path, tool: Tool) -> str | None:
    """What the binary says its version is (`kustomize version`, `kubeconform -v`); no Go needed."""
    if not binary.is_file():
        return None
    try:
        done = proc.run([str(binary), *tool.version_args], what=f"{tool.name} {' '.join(tool.version_args)}",
                        timeout=30)
    except ToolError:
        return None
    words = done.stdout.split()
    return words[0] if done.returncode == 0 and words else None


def built_version(binary: Path, tool: Tool) -> str | None:
    """The module version `go version -m` reads from the binary's build info (None: not built from it)."""
    try:
        done = proc.run(["go", "version", "-m", str(binary)], what="go version -m", timeout=60)
    except ToolError:
        return None
    if done.returncode != 0:
        return None
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and parts[1] == tool.module:
            return parts[2]
    return None


def installed_version(binary: Path, tool: Tool) -> str | None:
    """The binary's own version report; with Go on PATH, only when its build info names the same
    module version too (a script that merely prints the right number is not trusted then)."""
    reported = reported_version(binary, tool)
    if reported is None or shutil.which("go") is None:
        return reported
    return reported if built_version(binary, tool) == reported else None


def ensure(tool: Tool, root: Path) -> Path:
    """Return the path of the pinned binary, building it first if it is missing or another version."""
    binary = tools_dir(root) / tool.name
    found = installed_version(binary, tool)
    if found == tool.version:
        return binary
    if shutil.which("go") is None:
        what = f"{binary} reports {found}" if found else f"{binary} is missing" if not binary.exists() \
            else f"{binary} does not report a version"
        raise ToolError(f"{tool.name} {tool.version} is needed and 'go' is not on PATH to build it ({what}); "
                        + GO_FIX.format(folder=binary.parent))
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Build into a private folder, then rename: a concurrent run never sees half a binary.
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        env = dict(os.environ, GOBIN=tmp, GOFLAGS="-buildvcs=false")
        flags = [f"-ldflags={tool.ldflags}"] if tool.ldflags else []
        done = proc.run(["go", "install", *flags, f"{tool.package}@{tool.version}"], what=f"go install {tool.name}",
                        timeout=INSTALL_TIMEOUT, env=env)
        if done.returncode != 0:
            raise ToolError(f"go install {tool.package}@{tool.version} failed:\n{done.stderr.strip()}")
        os.replace(Path(tmp) / tool.name, binary)
    found = installed_version(binary, tool)
    if found != tool.version:
        raise ToolError(f"{binary} reports {tool.name} {found}, expected {tool.version}")
    return binary
