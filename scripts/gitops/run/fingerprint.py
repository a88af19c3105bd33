"""Digests of every input a validate run reads: what binds a partial result to the tree it was made from.

`validate --shard K/N` records them in its partial; `merge` computes them again from its own checkout
and refuses a partial whose digests differ (another commit, an edited working tree, other tools),
naming the inputs that differ. The groups are the whole set validate reads: the inventory; each
overlay's kustomization closure, and every file under each of its kustomizations' folders (a path
inside a transformer's config is read too); the committed clusters/ and bootstrap/; policies/ (code,
configuration, waivers); the CRD lock and schemas/; and the tooling (pinned versions, its own code,
kbuild's sources, the Python requirements).

A link is hashed as its target text and a FIFO or device as a marker, never opened: a digest never
reads through a link or waits on a pipe.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from pathlib import Path
from typing import Iterable

from gitops.run import bootstrap
from gitops.infra import crds, schemas, tools
from gitops.infra.fsio import sha256_file
from gitops.model.inventory import INVENTORY_FILE, Inventory
from gitops.infra.kustomizations import Closures

GROUPS = ("inventory", "sources", "rendered", "policies", "schemas", "tools")
_NOT_SOURCE = "__pycache__"
_TOOLING = Path(__file__).resolve().parents[1]  # the gitops package: every module of the tooling


def _content(path: str) -> str:
    """sha256 of a regular file, read in pieces; a link's target text, or a marker for anything else."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return "link:" + os.readlink(path)
        if not stat.S_ISREG(info.st_mode):
            return "special"
        return sha256_file(path)
    except OSError:
        return "unreadable"


def _walk(base: Path, rel: str) -> Iterable[str]:
    """Every file under base/rel (itself when it is a file), never into a linked folder; links are listed."""
    start = base / rel
    if not os.path.isdir(start) or os.path.islink(start):
        if os.path.lexists(start):
            yield rel
        return
    for folder, dirs, names in os.walk(start):
        dirs.sort()
        here = Path(folder).relative_to(base).as_posix()
        yield from (f"{here}/{n}" for n in sorted(names))
        yield from (f"{here}/{d}" for d in dirs if os.path.islink(os.path.join(folder, d)))


class Inputs:
    """The digests of one checkout; each file is read once however many shards' digests name it."""

    def __init__(self, root: Path, inv: Inventory) -> None:
        self.root, self.inv = root, inv
        self.closures = Closures(root)
        self._files: dict[str, str] = {}

    def _digest(self, files: Iterable[str], base: Path | None = None) -> str:
        digest = hashlib.sha256()
        for rel in sorted(set(files)):
            if _NOT_SOURCE in rel.split("/"):
                continue
            if base is not None:
                content = _content(str(base / rel))
            elif rel in self._files:
                content = self._files[rel]
            else:
                content = self._files[rel] = _content(str(self.root / rel))
            digest.update(f"{rel}\0{content}\0".encode())
        return digest.hexdigest()

    def _sources(self, overlays: Iterable[str]) -> list[str]:
        files: set[str] = set()
        folders: set[str] = set()
        for overlay in dict.fromkeys(overlays):
            closure = self.closures.of(self.root / overlay)  # InputError for a bad tree, as the build would
            files |= closure.files
            folders |= {posixpath.dirname(k) for k in closure.kustomizations}
        for folder in folders:
            files.update(_walk(self.root, folder))
        return sorted(files)

    def _tooling(self) -> str:
        digest = hashlib.sha256(self._digest(_walk(_TOOLING, "."), _TOOLING).encode())  # this tooling's own code
        for tool in tools.TOOLS:
            digest.update(f"{tool.name}\0{tool.version}\0".encode())
        digest.update(self._digest([*_walk(self.root, tools.KBUILD_DIR), *_walk(self.root, "requirements.txt")]).encode())
        return digest.hexdigest()

    def digests(self, clusters: Iterable[str] | None = None) -> dict[str, str]:
        """{group: sha256} of what a run over `clusters` (None: all) reads: their overlays' closures and
        committed folders, clusters/ folders the inventory lacks, and everything every cluster shares."""
        root, wanted = self.root, None if clusters is None else set(clusters)
        members = [c for c in self.inv.clusters if wanted is None or c.name in wanted]
        known = {c.name for c in self.inv.clusters}
        top = root / bootstrap.CLUSTERS_DIR
        folders = [m.name for m in members] + sorted(p.name for p in top.iterdir() if p.name not in known) \
            if top.is_dir() else []
        return {
            "inventory": self._digest([INVENTORY_FILE]),
            "sources": self._digest(self._sources(c.overlay for c in members)),
            "rendered": self._digest([*_walk(root, bootstrap.BOOTSTRAP_DIR),
                                      *(f for name in folders for f in _walk(root, f"{bootstrap.CLUSTERS_DIR}/{name}"))]),
            "policies": self._digest(_walk(root, "policies")),
            "schemas": self._digest([*_walk(root, crds.LOCK_FILE), *_walk(root, schemas.HANDWRITTEN)]),
            "tools": self._tooling(),
        }
