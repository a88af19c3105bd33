"""What the sync engines read: clusters/<name>/ (one object per file) and bootstrap/.

Rendering is all-or-nothing: everything is built in memory first, then written to a staging
folder and swapped in, so a failed build never leaves half a cluster folder behind.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterable

import yaml

from gitops.run import bootstrap
from gitops.infra import fsio, yamlsrc
from gitops.model import names
from gitops.model.errors import InputError
from gitops.model.findings import ObjectRef, SourceLocation
from gitops.model.inventory import Inventory
from gitops.model.kinds import Scopes
from gitops.model.resources import Resource

HEADER = "# Rendered by `nox -s render` from {source}. Edit that, not this file.\n"
MANAGED = (bootstrap.CLUSTERS_DIR, bootstrap.BOOTSTRAP_DIR)


def object_path(res: Resource) -> str:
    """clusters/<cluster>/<namespace or _cluster>/<kind>-<name>.yaml: stable and readable in a diff.

    Names come from the repository, so the path is checked to stay inside clusters/<cluster>/;
    `names.problems` reports a bad name as a finding first, and `expected_files` skips such objects.
    """
    rel = names.rendered_file(res.kind, res.namespace, res.name)
    if rel.count("/") != 1 or ".." in rel.split("/") or "\0" in rel:
        raise InputError(f"cluster {res.cluster}: {res.ref} would be written outside clusters/{res.cluster}/")
    return f"{bootstrap.CLUSTERS_DIR}/{res.cluster}/{rel}"


def expected_files(inv: Inventory, resources: dict[str, list[Resource]], kinds: Scopes | None = None) -> dict[str, str]:
    """{repository path: file text} of everything `render` writes for the clusters in `resources` (and Argo CD's
    objects); `kinds` names the resources of the Config Sync roles (the run's, with the locked CRDs' plurals).

    Two objects with the same kind, namespace and name in one cluster are a finding (duplicate-object),
    not bad input: the first one is kept here so validate and diff can report it at both sources' lines,
    and `render` refuses to write while any remain (cli.py)."""
    files: dict[str, str] = {}
    owners: dict[str, ObjectRef] = {}
    for cluster in inv.clusters:
        for res in resources.get(cluster.name, []):
            if names.problems(res):
                continue  # reported as an object-name finding; never a file
            path = object_path(res)
            first = owners.get(path)
            if first is not None and (first.kind, first.namespace, first.name) == (res.kind, res.namespace, res.name):
                continue  # the same object twice: the duplicate-object finding reports it; render refuses
            if path in files:
                raise InputError(f"cluster {cluster.name}: {res.ref} and {owners[path]} would both be "
                                 f"written to {path}; rename one of them", cluster.overlay)
            owners[path] = res.ref
            files[path] = HEADER.format(source=cluster.overlay) + yaml_text(res)
    for path, res in bootstrap.objects(inv, resources, kinds or Scopes()).items():
        derived = res.kind == "ClusterRole"  # a Config Sync cluster's roles follow from its objects too
        source = f"inventory.yaml and {inv.cluster(res.cluster).overlay}" if derived else "inventory.yaml"
        files[path] = HEADER.format(source=source) + dump(res.body)
    return files


def on_disk(root: Path, clusters: Iterable[str] | None = None) -> dict[str, str]:
    """Rendered files on disk; with `clusters`, only bootstrap/ and those clusters' folders."""
    files: dict[str, str] = {}
    tops = list(MANAGED) if clusters is None else \
        [bootstrap.BOOTSTRAP_DIR, *(f"{bootstrap.CLUSTERS_DIR}/{c}" for c in clusters)]
    for top in tops:
        if fsio.linked_part(root, top) is not None:
            raise InputError(f"{top} is a symlink; rendered folders must be plain folders of the repository", top)
        for folder, dirs, entries in os.walk(root / top):  # os.walk does not follow symlinked folders
            rel_folder = Path(folder).relative_to(root).as_posix()
            for name in dirs:  # a linked folder is not what render writes: stale, never read through
                if os.path.islink(os.path.join(folder, name)):
                    files[f"{rel_folder}/{name}"] = f"(a symlink to {os.readlink(os.path.join(folder, name))})"
            for name in entries:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):  # never read through it: a rendered file is never a link, so stale
                    files[f"{rel_folder}/{name}"] = f"(a symlink to {os.readlink(path)})"
                    continue
                if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end: stale, never read
                    files[f"{rel_folder}/{name}"] = "(not a regular file)"
                    continue
                if info.st_size > yamlsrc.max_file_bytes():  # no rendered object is this big: stale, never read
                    files[f"{rel_folder}/{name}"] = f"({info.st_size} bytes)"
                    continue
                files[f"{rel_folder}/{name}"] = _read_text(path)
    return files


def _read_text(path: str) -> str:
    """A file's text as open(path, encoding="utf-8", errors="replace").read() gives it (universal newlines),
    read as bytes and decoded in one go: the stale check reads every rendered file on every run, and the
    text layer's per-file set-up was most of that time."""
    with open(path, "rb", buffering=0) as fh:
        text = fh.readall().decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def foreign_folders(root: Path, inv: Inventory) -> list[str]:
    """Folders under clusters/ that no cluster of the inventory renders: everything in them is stale (an
    Argo CD ApplicationSet would still sync such a folder)."""
    top = root / bootstrap.CLUSTERS_DIR
    known = {c.name for c in inv.clusters}
    return sorted(p.name for p in top.iterdir() if p.is_dir() and p.name not in known) if top.is_dir() else []


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Replace clusters/ and bootstrap/ with exactly `files`; return the paths that changed.

    Both trees are staged first and swapped in together (fsio.replace_trees): a failure at any step
    leaves the old trees as they were, and every path is checked to stay inside its tree.
    """
    current = on_disk(root)
    changed = sorted(p for p in set(files) | set(current) if files.get(p) != current.get(p))
    if not changed:
        return []
    trees: dict[str, dict[str, str]] = {top: {} for top in MANAGED}
    for rel, text in files.items():
        top, _, rest = rel.partition("/")
        if top not in trees or not rest:
            raise InputError(f"refusing to write {rel!r}: outside {' and '.join(MANAGED)}")
        trees[top][rest] = text
    fsio.replace_trees(root, trees)
    return changed


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def yaml_text(res: Resource) -> str:
    """The object's YAML for clusters/: kustomize's own text when there is one."""
    return res.text if res.text is not None else dump(res.body)


def dump(body: dict[str, Any]) -> str:
    """The one serialisation of an object used in clusters/: stable, block style, readable multi-line strings."""
    return yaml.dump(body, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096,
                     allow_unicode=True)
