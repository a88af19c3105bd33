"""Where a run's objects come from (Built, Cached, Changed, Shard, Partials), and the committed folders.

Incremental validation (`validate --changed-since REF`) rebuilds only the overlays a change touches.

An overlay is rebuilt when a changed file is one its build can read (Closures.inputs: its kustomization
closure, anything under its kustomizations' folders whatever the name, such as a patch a transformer's
config names, and what links there lead to: the same inputs the validate cache keys a build on), or a
file of its own clusters/<name>/ folder changed (a hand edit the stale check must see). Every other cluster is
read back from its committed clusters/<name>/ files, so cross-cluster policies still see the
whole clusterset. A change to a file every build or check depends on rebuilds everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from gitops.run import bootstrap
from gitops.run.stages import build
from gitops.infra import crds, git, schemas, yamlsrc
from gitops.model.errors import InputError
from gitops.model.inventory import INVENTORY_FILE, Inventory
from gitops.infra.kustomizations import Closures
from gitops.run.stages.parse import Documents
from gitops.model.findings import Finding
from gitops.model.resources import Resource

if TYPE_CHECKING:
    from gitops.run.context import Run

SYNCED_SUFFIXES = (".yaml", ".yml", ".json")  # what Argo CD and Config Sync read from a folder
GLOBAL_INPUTS = (INVENTORY_FILE, crds.LOCK_FILE, f"{schemas.HANDWRITTEN}/")


def changed_files(root: Path, ref: str) -> set[str]:
    """Root-relative paths changed since ref: committed, staged, unstaged and untracked."""
    commit = git.verified(root, ref, "--changed-since")
    changed = git.lines(root, "diff", "--name-only", "--no-renames", "--relative", commit, "--", purpose="--changed-since")
    return set(changed) | set(git.lines(root, "ls-files", "--others", "--exclude-standard", purpose="--changed-since"))


def select(inv: Inventory, root: Path, changed: set[str], closures: Closures) -> set[str]:
    """Names of the clusters whose overlay must be rebuilt for these changed files."""
    if any(path == g or (g.endswith("/") and path.startswith(g)) for path in changed for g in GLOBAL_INPUTS):
        return {c.name for c in inv.clusters}
    selected = set()
    holders = {"/".join(path.split("/")[:i]) for path in changed for i in range(path.count("/") + 1)}  # "" is the root
    for cluster in inv.clusters:
        own = f"{bootstrap.CLUSTERS_DIR}/{cluster.name}/"
        if any(path.startswith(own) for path in changed) or not (root / own).is_dir():
            selected.add(cluster.name)
            continue
        try:
            files, folders = closures.inputs(root / cluster.overlay)
        except InputError:  # let the real build report it, with its file and line
            selected.add(cluster.name)
            continue
        if files & changed or folders & holders:
            selected.add(cluster.name)
    return selected


def load_committed(root: Path, cluster: str, documents: Documents) -> list[Resource]:
    """A cluster's objects as rendered into clusters/<name>/ (a finding's source line comes from an
    annotated build of the cluster, made only when needed). Each file is render's header line and
    kustomize's text of one object, the same text a build of another cluster parses, so most of
    them are parsed once for the whole fleet."""
    folder = root / bootstrap.CLUSTERS_DIR / cluster
    out = []
    for path in sorted(folder.rglob("*.yaml")):
        _, res = read_committed(root, path.relative_to(root).as_posix(), cluster, documents)
        if res is not None:
            out.append(res)
    return out


def read_committed(root: Path, rel: str, cluster: str, documents: Documents) -> tuple[str, Resource | None]:
    """(the file's text, its object) of one rendered file (None when it holds no mapping); InputError for a
    link, an unreadable or oversized file, or YAML that is not one object."""
    path = root / rel
    if path.is_symlink():
        raise InputError("a rendered file is a symlink; run `nox -s render` and commit the result", rel)
    text = yamlsrc.read_checked(path, rel)
    yamlsrc.check_expansion(text, rel)
    header, _, doc = text.partition("\n") if text.startswith("#") else ("", "", text)
    try:
        body = documents.load(doc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 + (1 if header else 0) if mark else None
        raise InputError(f"not one YAML object: {getattr(exc, 'problem', None) or exc}", rel, line) from None
    return text, Resource(cluster, body, text=doc) if isinstance(body, dict) else None


def render(kz: build.Kustomize, inv: Inventory, root: Path, ref: str,
           workers: int | None = None) -> tuple[dict[str, list[Resource]], set[str]]:
    """({cluster: resources} for every cluster, names of the clusters rebuilt from their overlay)."""
    closures = Closures(root)
    rebuilt = select(inv, root, changed_files(root, ref), closures)
    documents = Documents()
    built = build.build_all(kz, [c for c in inv.clusters if c.name in rebuilt], root, workers, closures,
                            documents)
    resources = {c.name: built[c.name] if c.name in rebuilt else load_committed(root, c.name, documents)
                 for c in inv.clusters}
    return resources, rebuilt


# --- where a run's objects come from -----------------------------------------------------------------------

@dataclass
class Loaded:
    """What an input gives the run: every cluster's objects, which clusters were built from their overlays
    (None: all of them), and findings carried over (a shard's)."""

    resources: dict[str, list[Resource]]
    rebuilt: set[str] | None = None
    findings: list[Finding] = field(default_factory=list)

    def rebuilt_or_all(self) -> frozenset[str]:
        return frozenset(self.resources) if self.rebuilt is None else frozenset(self.rebuilt)


class Input:
    """Where objects come from. `read` runs before any tool (it may only read and check files); `load` gives
    the objects, after the run has its inventory and tools."""

    def read(self, run: Run) -> None:
        return None

    def load(self, run: Run) -> Loaded:
        raise NotImplementedError


@dataclass
class Built(Input):
    """Built from the overlays (kbuild, or one kustomize process per overlay); `clusters`: only these."""

    clusters: list[str] | None = None

    def load(self, run: Run) -> Loaded:
        inv = run.inventory
        wanted = list(inv.clusters) if self.clusters is None else [inv.cluster(c) for c in self.clusters]
        progress = run.options.progress
        progress.stage("build", len(wanted))
        built = build.build_all(run.kustomize, wanted, run.root, run.options.workers,
                                on_built=lambda _: progress.advance())
        return Loaded(built, None if self.clusters is None else set(self.clusters))


@dataclass
class Cached(Input):
    """From the cache where an overlay's inputs did not change, else built (and stored)."""

    clusters: list[str] | None = None

    def load(self, run: Run) -> Loaded:
        assert run.store is not None
        inv = run.inventory
        wanted = None if self.clusters is None else [inv.cluster(c) for c in self.clusters]
        return Loaded(run.store.render(run.kustomize, inv, run.options.workers, wanted),
                      None if self.clusters is None else set(self.clusters))


@dataclass
class Changed(Input):
    """--changed-since REF: the overlays a change touches built, every other cluster read from its committed
    clusters/<name>/ (what the sync engines apply)."""

    ref: str

    def load(self, run: Run) -> Loaded:
        resources, rebuilt = render(run.kustomize, run.inventory, run.root, self.ref, run.options.workers)
        return Loaded(resources, rebuilt)


@dataclass
class Shard(Input):
    """The K-th of N slices of the clusters (`validate --shard K/N`), built or from the cache."""

    shard: int
    shards: int

    def read(self, run: Run) -> None:
        from gitops.run import shard

        shard.check_count(run.inventory, self.shards)

    def load(self, run: Run) -> Loaded:
        from gitops.run import shard

        members = shard.members(run.inventory, self.shard, self.shards)
        inner: Input = Cached(members) if run.store is not None else Built(members)
        return inner.load(run)


@dataclass
class Partials(Input):
    """The partial results of every shard (`merge`): their objects, and the findings each shard made."""

    paths: list[Path]
    _read: Loaded | None = None

    def read(self, run: Run) -> None:
        from gitops.run import shard

        resources, findings = shard.read_all(run.root, run.inventory, self.paths)
        self._read = Loaded(resources, None, findings)

    def load(self, run: Run) -> Loaded:
        assert self._read is not None
        return self._read


def default(run: Run) -> Input:
    """validate's input: --changed-since's, else the cache's, else a fresh build."""
    if run.options.changed_since is not None:
        return Changed(run.options.changed_since)
    return Cached() if run.store is not None else Built()


# --- the committed folders: what the sync engines apply ----------------------------------------------------

def _files(root: Path, top: str, required: bool) -> list[str]:
    """Repository paths of the files a sync engine reads under `top` (recursively, links not followed);
    InputError when `top` is a link, or is missing and `required`."""
    folder = root / top
    if any((root / prefix).is_symlink() for prefix in ("/".join(top.split("/")[:i + 1])
                                                      for i in range(top.count("/") + 1))):
        raise InputError(f"{top} is a symlink; rendered folders must be plain folders of the repository", top)
    if not folder.is_dir():
        if required:
            raise InputError(f"{top}/ does not exist, so its sync engine applies nothing: run `nox -s render` and "
                             "commit the result", top)
        return []
    out = []
    for dirpath, dirs, names in os.walk(folder):
        dirs.sort()
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        linked = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
        if linked:  # os.walk would skip it, a sync engine might not: never a verdict on part of the folder
            raise InputError("a folder of a rendered tree is a symlink; run `nox -s render` and commit the result",
                             f"{rel_dir}/{linked[0]}")
        out += [f"{rel_dir}/{name}" for name in sorted(names) if name.endswith(SYNCED_SUFFIXES)]
    return out


def committed_bootstrap(root: Path, inv: Inventory) -> dict[str, list[Resource]]:
    """The committed bootstrap/config-sync/<name>/ objects of each Config Sync cluster: what its operator applies.
    A file or folder that cannot be read is left out (the stale check reports it)."""
    documents = Documents()
    out: dict[str, list[Resource]] = {}
    for c in inv.clusters:
        if c.sync != "config-sync":
            continue
        items = out.setdefault(c.name, [])
        try:
            rels = _files(root, bootstrap.config_sync_dir(c.name).rstrip("/"), False)
        except InputError:
            continue
        for rel in rels:
            try:
                _, res = read_committed(root, rel, c.name, documents)
            except InputError:
                continue
            if res is not None:
                res.origin = rel
                items.append(res)
    return out


def committed(root: Path, inv: Inventory, clusters: list[str], expected: dict[str, str] | None,
              required: bool = True) -> dict[str, list[Resource]]:
    """{cluster: objects} that the sync engines apply to each of `clusters`: the committed clusters/<name>/ files,
    then the committed bootstrap/ files of its engine. With `expected` (what render writes now), an object whose
    file differs from it (a hand edit, a stale folder) is placed at its own file's lines, not the overlay's."""
    documents = Documents()
    out: dict[str, list[Resource]] = {c: [] for c in clusters}
    files = [(rel, c) for c in clusters for rel in _files(root, f"{bootstrap.CLUSTERS_DIR}/{c}", required)]
    files += [(rel, str(bootstrap.owner(inv, rel))) for rel in _files(root, bootstrap.BOOTSTRAP_DIR, False)
              if bootstrap.owner(inv, rel) in out]
    for rel, cluster in files:
        text, res = read_committed(root, rel, cluster, documents)
        if res is None:
            continue
        if rel.startswith(f"{bootstrap.BOOTSTRAP_DIR}/") or expected is None or \
                expected.get(rel) != text.replace("\r\n", "\n"):
            res.origin = rel
        out[cluster].append(res)
    return out
