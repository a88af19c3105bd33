"""The pinned Go tools (kustomize, kubeconform, actionlint): installed by `go install` into .tools/bin
(or GITOPS_TOOLS_DIR).
`nox -s e2e`'s kube-apiserver and etcd are built with `go build` from the wrapper modules under
tools/controlplane/ (see CONTROL_PLANES below), and kbuild (every overlay in one kustomize process)
from tools/kbuild/.

A binary is reused only when it is the pinned version: with Go on PATH, `go version -m` must say it
was built from the pinned module (one fast call), and kbuild's must list exactly the modules of
tools/kbuild/go.sum besides reporting its source hash; without Go, the binary must report it itself
(`kustomize version`, `kubeconform -v`), so binaries already in the tools folder (built earlier, or
copied in) work. Bumping a pin here is all it takes to upgrade everyone. The tools folder itself is
checked first (owned.tools_dir): inside the checkout, no link and nothing git tracks, so a pull request
cannot ship a binary that is then run.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from gitops.infra import owned, proc
from gitops.model.errors import ToolError

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


tools_dir = owned.tools_dir
Log = Callable[[str], None]


def to_stderr(line: str) -> None:
    """The default for a build's two lines (started, done): stderr, so a report on stdout stays whole and a
    fresh machine's first run is never silent while Go builds."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


@contextmanager
def _building(what: str, folder: Path, log: Log) -> Iterator[None]:
    """"building kustomize v5.8.2 ... (first time only)", then "built ... in 41 s": a build is never silent."""
    log(f"gitops: building {what} with Go into {folder} (first time only; a minute or more on a cold Go build "
        "cache) ...")
    start = time.monotonic()
    yield
    log(f"gitops: built {what} in {time.monotonic() - start:.0f} s")


def _says(binary: Path, args: tuple[str, ...]) -> str | None:
    """The first word `binary args` prints (a version, a source hash); None when it cannot say."""
    if not binary.is_file():
        return None
    try:
        done = proc.run([str(binary), *args], what=f"{binary.name} {' '.join(args)}", timeout=30)
    except ToolError:
        return None
    words = done.stdout.split()
    return words[0] if done.returncode == 0 and words else None


def reported_version(binary: Path, tool: Tool) -> str | None:
    """What the binary says its version is (`kustomize version`, `kubeconform -v`); no Go needed."""
    return _says(binary, tool.version_args)


def build_info(binary: Path) -> list[list[str]] | None:
    """The rows `go version -m` prints for a Go binary ("", "dep", module, version, hash); None when it is not one
    (a script, say), or Go cannot say."""
    if not binary.is_file():
        return None
    try:
        done = proc.run(["go", "version", "-m", str(binary)], what="go version -m", timeout=60)
    except ToolError:
        return None
    return [line.split("\t") for line in done.stdout.splitlines()] if done.returncode == 0 else None


def _module_row(rows: list[list[str]], module: str) -> list[str] | None:
    return next((row for row in rows if len(row) >= 4 and row[1] in ("mod", "dep") and row[2] == module), None)


def built_version(binary: Path, tool: Tool) -> str | None:
    """The module version `go version -m` reads from the binary's build info (None: not built from it,
    or built without the ldflags that make it report its own version)."""
    rows = build_info(binary)
    if rows is None or (tool.ldflags and ["", "build", f'-ldflags="{tool.ldflags}"'] not in rows):
        return None
    row = _module_row(rows, tool.module)
    return row[3] if row is not None and row[1] == "mod" else None


def installed_version(binary: Path, tool: Tool) -> str | None:
    """With Go on PATH, the module version in the binary's build info (a script that merely prints the
    right number is not trusted); without Go, what the binary reports itself."""
    if not binary.is_file():
        return None
    if shutil.which("go") is None:
        return reported_version(binary, tool)
    return built_version(binary, tool)


def ensure(tool: Tool, root: Path, log: Log = to_stderr) -> Path:
    """Return the path of the pinned binary, building it first (saying so through `log`) if it is missing or
    another version."""
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
    with _building(f"{tool.name} {tool.version}", binary.parent, log), \
            tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
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


# --- control-plane binaries for `nox -s e2e`: built with `go build` from the committed modules ---------

# The wrapper modules belong to the tooling, not to the repository it checks (a fleetgen fleet, a test copy).
TOOLING_ROOT = Path(__file__).resolve().parents[3]


def in_checkout() -> bool:
    """Whether the tooling runs from a checkout of this project (its noxfile beside it), not installed as a
    package (pip, a pre-commit hook's environment)."""
    return (TOOLING_ROOT / "noxfile.py").is_file() and (TOOLING_ROOT / "scripts" / "gitops").is_dir()
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


def module_version(binary: Path, module: str) -> str | None:
    """The version of `module` that `go version -m` says `binary` was built with (no network needed)."""
    row = _module_row(build_info(binary) or [], module)
    return row[3] if row is not None else None


def _module_source(module_dir: str, root: Path, what: str) -> Path:
    """Where a committed Go module of ours is: in the tooling's own tree (a clone; also when the repository
    checked is a copy or a generated fleet), else in the repository checked (the tooling installed as a
    package, run inside this repository)."""
    for base in (TOOLING_ROOT, root):
        if (base / module_dir / "go.mod").is_file():
            return base / module_dir
    raise ToolError(f"{module_dir}/go.mod is missing: cannot build {what}")


def ensure_built(tool: Built, root: Path, log: Callable[[str], None] = print) -> Path:
    """The binary of `tool`, built first (printing what and how long) when missing or of another version."""
    binary = tools_dir(root) / tool.file_name
    if module_version(binary, tool.module) == tool.version:
        return binary
    if shutil.which("go") is None:
        raise ToolError(f"{tool.name} {tool.version} must be built with Go, and 'go' is not on PATH")
    source = _module_source(tool.module_dir, root, f"{tool.name} {tool.version}")
    log(f"building {tool.name} {tool.version} from {tool.module_dir} with go build into {binary.parent} "
        "(first time only; kube-apiserver takes minutes from an empty Go build cache) ...")
    start = time.monotonic()

    def check(out: Path) -> None:
        found = module_version(out, tool.module)
        if found != tool.version:
            raise ToolError(f"{tool.module_dir} builds {tool.module} {found}, but the lock in tools.py says "
                            f"{tool.version}: update one of them")

    _go_build(source, tool.package, binary, tool.ldflags, check)
    log(f"built {tool.name} {tool.version} in {time.monotonic() - start:.0f} s")
    return binary


def _go_build(source: Path, package: str, binary: Path, ldflags: tuple[str, ...],
              check: Callable[[Path], None]) -> None:
    """`go build` `package` in the module at `source` into `binary`: built in a private folder, checked
    with `check`, then renamed into place, so a concurrent run never sees half a binary."""
    binary = Path(os.path.abspath(binary))  # go build runs in `source`: a relative path would land there
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        out = Path(tmp) / binary.name
        env = dict(os.environ, GOFLAGS="-buildvcs=false -mod=readonly", GOWORK="off")
        flags = " ".join(("-s", "-w", *ldflags))
        done = proc.run(["go", "build", "-trimpath", f"-ldflags={flags}", "-o", str(out), package],
                        what=f"go build {binary.name}", timeout=BUILD_TIMEOUT, env=env, cwd=source)
        if done.returncode != 0:
            raise ToolError(f"go build {package} in {source} failed:\n{done.stderr.strip()[-4000:]}")
        check(out)
        os.replace(out, binary)


# --- Argo CD for `gitops sync` (docs/argocd-sync.md): its multi-call binary, from tools/argocd -------------

ARGOCD = Built("argocd", "tools/argocd", "github.com/argoproj/argo-cd/v3/cmd", "github.com/argoproj/argo-cd/v3",
               "v3.2.11")


# --- this repository's own Go programs: kbuild (every overlay in one kustomize process), and in tools/argocd the
# plan program (validate's Argo CD tier) and miniredis (the sync run's Redis) ------------------------------------

@dataclass(frozen=True)
class Own:
    """A main package of a committed Go module under tools/: reused while its build info matches the module's go.sum
    and it reports the hash of the sources it was built from (`-version`)."""

    name: str  # the binary's file name in the tools folder
    module_dir: str  # repository-relative folder holding go.mod and go.sum
    package: str = "."  # the main package's folder inside the module


def own_folder(program: Own) -> str:
    """The repository-relative folder of a program's main package."""
    return program.module_dir if program.package == "." else f"{program.module_dir}/{program.package}"


KBUILD_DIR = "tools/kbuild"
KBUILD = Own("kbuild", KBUILD_DIR)
PLAN = Own("argocd-plan", "tools/argocd", "plan")
MINIREDIS = Own("miniredis", "tools/argocd", "miniredis")


def source_hash(source: Path, package: str = ".") -> str:
    """sha256 of a Go program's own sources: the module's go.mod and go.sum, which pin every module it links, and
    the main package's *.go."""
    folder = source / package
    files = [source / "go.mod", source / "go.sum", *(p for p in folder.iterdir() if p.suffix == ".go")]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(source).as_posix()):
        digest.update(f"{path.relative_to(source).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def own_module(program: Own, root: Path) -> Path:
    """The folder of a program's Go module (ToolError when its sources are not at hand)."""
    return _module_source(program.module_dir, root, program.name)


def own_source(program: Own, root: Path) -> str:
    """A program's source hash, for cache keys ("none" where its sources are not at hand)."""
    try:
        return source_hash(_module_source(program.module_dir, root, program.name), program.package)
    except ToolError:
        return "none"


def kbuild_source(root: Path) -> str:
    """kbuild's source hash, for cache keys ("none" where its sources are not at hand)."""
    return own_source(KBUILD, root)


def reported_hash(binary: Path) -> str | None:
    """The source hash one of our programs says it was built from (`PROGRAM -version`)."""
    return _says(binary, ("-version",))


def _sums(source: Path) -> tuple[str | None, set[tuple[str, str, str]]]:
    """(the module path go.mod declares, every (module, version, h1 hash) of go.sum's module lines)."""
    module = next((line.split()[1] for line in (source / "go.mod").read_text().splitlines()
                   if line.startswith("module ") and len(line.split()) == 2), None)
    sums = {(parts[0], parts[1], parts[2]) for parts in (line.split() for line in (source / "go.sum").read_text().splitlines())
            if len(parts) == 3 and not parts[1].endswith("/go.mod")}
    return module, sums


def built_from(binary: Path, source: Path, package: str = ".") -> bool:
    """Whether `go version -m` says `binary` is the main package `package` of the module in `source`, built with
    -trimpath (as _go_build does), linking only modules at the versions and hashes source/go.sum pins: the check
    kustomize and kubeconform get, before the binary is ever run."""
    rows = build_info(binary)
    if rows is None:
        return False
    module, sums = _sums(source)
    if module is None:
        return False
    path = module if package == "." else f"{module}/{package}"
    deps = [(row[2], row[3], row[4]) for row in rows if len(row) >= 5 and row[1] == "dep"]
    return (["", "path", path] in [row[:3] for row in rows] and ["", "build", "-trimpath=true"] in rows
            and bool(deps) and all(dep in sums for dep in deps))


def kbuild_built_from(binary: Path, source: Path) -> bool:
    return built_from(binary, source)


def ensure_own(program: Own, root: Path, log: Log = to_stderr) -> Path | None:
    """`program` built into the tools folder, rebuilt whenever its sources change (saying so through `log`): with
    Go, its build info must match the module (built_from) and it must report the hash of the sources it was built
    from; without Go, only the hash it reports (as kustomize without Go). None when it cannot be had here (no
    sources, as in a pip-installed tooling run outside this repository, or no Go to build them): the caller says
    what that means."""
    try:
        source = _module_source(program.module_dir, root, program.name)
    except ToolError:
        return None
    binary = tools_dir(root) / program.name
    wanted = source_hash(source, program.package)
    have_go = shutil.which("go") is not None

    def current(path: Path) -> bool:
        return (not have_go or built_from(path, source, program.package)) and reported_hash(path) == wanted

    if current(binary):
        return binary
    if not have_go:
        return None

    def check(out: Path) -> None:
        if not current(out):
            raise ToolError(f"{out.name} built from {source / program.package} does not match its go.sum or the "
                            f"source hash {wanted}")

    package = "." if program.package == "." else f"./{program.package}"
    with _building(f"{program.name} ({own_folder(program)})", binary.parent, log):
        _go_build(source, package, binary, (f"-X main.sourceHash={wanted}",), check)
    return binary


def ensure_kbuild(root: Path, log: Log = to_stderr) -> Path | None:
    """tools/kbuild built into the tools folder (ensure_own); None where it cannot be had: the kustomize CLI then
    builds, with the same output."""
    return ensure_own(KBUILD, root, log)
