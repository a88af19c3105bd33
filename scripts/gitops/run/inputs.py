"""Incremental validation (`validate --changed-since REF`): rebuild only the overlays a change touches.

An overlay is rebuilt when a changed file is one its build can read (Closures.inputs: its kustomization
closure, anything under its kustomizations' folders whatever the name, such as a patch a transformer's
config names, and what links there lead to: the same inputs the validate cache keys a build on), or a
file of its own clusters/<name>/ folder changed (a hand edit the stale check must see). Every other cluster is
read back from its committed clusters/<name>/ files, so cross-cluster policies still see the
whole clusterset. A change to a file every build or check depends on rebuilds everything.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from gitops.run import bootstrap
from gitops.run.stages import build
from gitops.infra import crds, git, schemas, yamlsrc
from gitops.model.errors import InputError
from gitops.model.inventory import INVENTORY_FILE, Inventory
from gitops.infra.kustomizations import Closures
from gitops.run.stages.parse import Documents
from gitops.model.resources import Resource

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
