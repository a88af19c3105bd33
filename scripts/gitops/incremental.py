"""Incremental validation (`validate --changed-since REF`): rebuild only the overlays a change touches.

An overlay is rebuilt when its kustomization closure holds a changed file, or a file of its own
clusters/<name>/ folder changed (a hand edit the stale check must see). Every other cluster is
read back from its committed clusters/<name>/ files, so cross-cluster policies still see the
whole clusterset. A change to a file every build or check depends on rebuilds everything.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import yaml

from . import bootstrap, build, crds, hydrate, schemas
from .errors import InputError, UsageError
from .inventory import INVENTORY_FILE, Inventory
from .kustomizations import Closures
from .manifests import Resource

GLOBAL_INPUTS = (INVENTORY_FILE, crds.LOCK_FILE, f"{schemas.HANDWRITTEN}/")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _git(root: Path, *args: str) -> list[str]:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"--changed-since: git {' '.join(args)} failed: {proc.stderr.strip()}")
    return [line for line in proc.stdout.splitlines() if line]


def changed_files(root: Path, ref: str) -> set[str]:
    """Root-relative paths changed since ref: committed, staged, unstaged and untracked."""
    changed = _git(root, "diff", "--name-only", "--no-renames", "--relative", ref, "--")
    return set(changed) | set(_git(root, "ls-files", "--others", "--exclude-standard"))


def select(inv: Inventory, root: Path, changed: set[str], closures: Closures) -> set[str]:
    """Names of the clusters whose overlay must be rebuilt for these changed files."""
    if any(path == g or (g.endswith("/") and path.startswith(g)) for path in changed for g in GLOBAL_INPUTS):
        return {c.name for c in inv.clusters}
    selected = set()
    for cluster in inv.clusters:
        own = f"{bootstrap.CLUSTERS_DIR}/{cluster.name}/"
        if any(path.startswith(own) for path in changed) or not (root / own).is_dir():
            selected.add(cluster.name)
            continue
        try:
            files = closures.of(root / cluster.overlay).files
        except InputError:  # let the real build report it, with its file and line
            selected.add(cluster.name)
            continue
        if files & changed:
            selected.add(cluster.name)
    return selected


def _parsed_path(cache: Path, files: list[tuple[str, str]]) -> Path:
    """Where the parsed objects of exactly these files (path, text) are kept."""
    digest = hashlib.sha256()
    for rel, text in files:
        digest.update(f"{rel}\0{text}\0".encode())
    return cache / "committed" / f"{digest.hexdigest()}.json"


def remember(cache: Path, cluster: str, files: dict[str, str], resources: list[Resource]) -> None:
    """Keep what render wrote for a cluster, parsed, so a later incremental run need not parse its YAML."""
    folder = f"{bootstrap.CLUSTERS_DIR}/{cluster}/"
    by_path = {hydrate.object_path(r): r.body for r in resources}
    ordered = sorted((rel, text) for rel, text in files.items() if rel.startswith(folder))
    _store(_parsed_path(cache, ordered), [by_path[rel] for rel, _ in ordered])


def _store(target: Path, bodies: list[dict]) -> None:
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(bodies))
        os.replace(tmp, target)


def load_committed(root: Path, cluster: str, cache: Path) -> list[Resource]:
    """A cluster's objects as rendered into clusters/<name>/ (a finding's source line comes from an
    annotated build of the cluster, made only when needed). YAML parsing is most of the cost of an
    incremental run, so objects parsed before (by render, or an earlier run) are read back as JSON."""
    folder = root / bootstrap.CLUSTERS_DIR / cluster
    files = [(p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(folder.rglob("*.yaml"))]
    parsed = _parsed_path(cache, files)
    if parsed.is_file():
        return [Resource(cluster, body) for body in json.loads(parsed.read_text())]
    bodies = [b for _, text in files for b in yaml.load_all(text, Loader=_Loader) if isinstance(b, dict)]
    _store(parsed, bodies)
    return [Resource(cluster, body) for body in bodies]


def render(kustomize: Path, inv: Inventory, root: Path, ref: str, cache: Path,
           workers: int | None = None) -> tuple[dict[str, list[Resource]], set[str]]:
    """({cluster: resources} for every cluster, names of the clusters rebuilt from their overlay)."""
    closures = Closures(root)
    rebuilt = select(inv, root, changed_files(root, ref), closures)
    built = build.build_all(kustomize, [c for c in inv.clusters if c.name in rebuilt], root, workers, closures)
    resources = {c.name: built[c.name] if c.name in rebuilt else load_committed(root, c.name, cache)
                 for c in inv.clusters}
    return resources, rebuilt
