"""What the sync engines read: clusters/<name>/ (one object per file) and bootstrap/.

Rendering is all-or-nothing: everything is built in memory first, then written to a staging
folder and swapped in, so a failed build never leaves half a cluster folder behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from . import bootstrap
from .errors import InputError
from .findings import ObjectRef, SourceLocation
from .inventory import Inventory
from .manifests import Resource, dump, yaml_text

HEADER = "# Rendered by `nox -s render` from {source}. Edit that, not this file.\n"
MANAGED = (bootstrap.CLUSTERS_DIR, bootstrap.BOOTSTRAP_DIR)


def object_path(res: Resource) -> str:
    """clusters/<cluster>/<namespace or _cluster>/<kind>-<name>.yaml: stable and readable in a diff."""
    folder = res.namespace or "_cluster"
    return f"{bootstrap.CLUSTERS_DIR}/{res.cluster}/{folder}/{res.kind.lower()}-{res.name}.yaml"


def expected_files(inv: Inventory, resources: dict[str, list[Resource]]) -> dict[str, str]:
    """{repository path: file text} of everything `render` writes.

    Two objects with the same kind, namespace and name in one cluster are a finding (duplicate-object),
    not bad input: the first one is kept here so validate and diff can report it at both sources' lines,
    and `render` refuses to write while any remain (cli.py)."""
    files: dict[str, str] = {}
    owners: dict[str, ObjectRef] = {}
    for cluster in inv.clusters:
        for res in resources.get(cluster.name, []):
            path = object_path(res)
            first = owners.get(path)
            if first is not None and (first.kind, first.namespace, first.name) == (res.kind, res.namespace, res.name):
                continue  # the same object twice: the duplicate-object finding reports it; render refuses
            if path in files:
                raise InputError(f"cluster {cluster.name}: {res.ref} and {owners[path]} would both be "
                                 f"written to {path}; rename one of them", cluster.overlay)
            owners[path] = res.ref
            files[path] = HEADER.format(source=cluster.overlay) + yaml_text(res)
    for path, res in bootstrap.objects(inv).items():
        files[path] = HEADER.format(source="inventory.yaml") + dump(res.body)
    return files


def on_disk(root: Path, clusters: Iterable[str] | None = None) -> dict[str, str]:
    """Rendered files on disk; with `clusters`, only bootstrap/ and those clusters' folders."""
    files: dict[str, str] = {}
    tops = list(MANAGED) if clusters is None else \
        [bootstrap.BOOTSTRAP_DIR, *(f"{bootstrap.CLUSTERS_DIR}/{c}" for c in clusters)]
    for top in tops:
        for folder, _, names in os.walk(root / top):
            rel_folder = Path(folder).relative_to(root).as_posix()
            for name in names:
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
                    files[f"{rel_folder}/{name}"] = fh.read()
    return files


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Replace clusters/ and bootstrap/ with exactly `files`; return the paths that changed."""
    current = on_disk(root)
    changed = sorted(p for p in set(files) | set(current) if files.get(p) != current.get(p))
    if not changed:
        return []
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=root))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for top in MANAGED:
            target, fresh, old = root / top, staging / top, staging / f"{top}.old"
            fresh.mkdir(exist_ok=True)
            if target.exists():
                os.replace(target, old)
            os.replace(fresh, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed


def stale(root: Path, files: dict[str, str],
          clusters: Iterable[str] | None = None) -> list[tuple[str, str | None, SourceLocation, str]]:
    """(path, cluster, location, message) for every committed file that differs from a fresh render.

    With `clusters` (incremental validation), only bootstrap/ and those clusters' folders are compared.
    """
    current = on_disk(root, clusters)
    out = []
    for rel in sorted(set(files) | set(current)):
        want, have = files.get(rel), current.get(rel)
        if want == have:
            continue
        parts = rel.split("/")
        cluster = parts[1] if parts[0] == bootstrap.CLUSTERS_DIR and len(parts) > 2 else None
        if have is None:
            out.append((rel, cluster, SourceLocation(rel, 1), f"{rel} is missing: the overlay now renders it"))
        elif want is None:
            out.append((rel, cluster, SourceLocation(rel, 1), f"{rel} is no longer rendered by any overlay"))
        else:
            line = next((i for i, (a, b) in enumerate(zip(want.splitlines(), have.splitlines()), 1) if a != b),
                        min(len(want.splitlines()), len(have.splitlines())) + 1)
            out.append((rel, cluster, SourceLocation(rel, line), f"{rel} is stale from line {line}: "
                        "its overlay or base changed since the last render"))
    return out
