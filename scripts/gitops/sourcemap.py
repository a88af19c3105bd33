"""Map a field of a rendered object back to the file and line a person edits.

kustomize tells us which file declared an object (origin annotation) and which
kustomizations changed it (transformer annotations), in an annotated build of the object's
cluster, made only when a finding in that cluster needs a line. A field's value comes from the most
specific of those: a patch in the overlay beats the base. We walk the same field path through
each candidate file's YAML nodes, matching list items by their `name` as strategic merge does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

from . import yamlsrc
from .errors import InputError
from .findings import SourceLocation
from .kustomizations import Closure
from .manifests import Resource

PathElem = str | int
# Kustomization fields that rename objects: a tree with one is placed by kustomize's annotated build.
_RENAMING = ("namePrefix", "nameSuffix")


_Key = tuple[str, str, str, str]  # kind, namespace, name, the document's text as kustomize printed it


@dataclass
class SourceMap:
    root: Path
    # cluster name -> its annotated build; None where objects already carry their origin (tests, bootstrap).
    annotated: Callable[[str], list[Resource]] | None = None
    # Several clusters' annotated builds at once (in parallel); default: one after another through `annotated`.
    annotated_many: Callable[[list[str]], dict[str, list[Resource]]] | None = None
    # The plain build of every cluster, to find clusters that received the same document.
    resources: dict[str, list[Resource]] = field(default_factory=dict)
    # cluster -> its overlay's kustomization tree: every file its build reads (kustomizations.Closures).
    closure: Callable[[str], Closure] | None = None
    _cache: dict[str, list[yaml.Node]] = field(default_factory=dict)
    _twins: dict[str, dict[tuple[str, str, str], Resource]] = field(default_factory=dict)
    _placed: dict[_Key, list[Resource]] = field(default_factory=dict)
    # id(resource) -> (the resource, kept alive so the id stays its own; the same object placed from its tree)
    _tree: dict[int, tuple[Resource, Resource]] = field(default_factory=dict)
    _same_name: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    _trees: dict[str, tuple[list[str], dict[str, list[str]], list[str]] | None] = field(default_factory=dict)
    _texts: dict[str, str] = field(default_factory=dict)

    def _key(self, res: Resource) -> _Key | None:
        return (res.kind, res.namespace, res.name, res.text) if res.text is not None else None

    def _record(self, cluster: str, built: list[Resource]) -> None:
        """Keep a cluster's annotated build, and index it by document text for the clusters that share one."""
        twins = self._twins[cluster] = {(r.kind, r.namespace, r.name): r for r in built}
        for plain in self.resources.get(cluster, ()):
            key, twin = self._key(plain), twins.get((plain.kind, plain.namespace, plain.name))
            if key is not None and twin is not None:
                self._placed.setdefault(key, []).append(twin)

    def _build(self, clusters: list[str]) -> None:
        todo = [c for c in dict.fromkeys(clusters) if c not in self._twins]
        if not todo or self.annotated is None:
            return
        if self.annotated_many is not None and len(todo) > 1:
            try:
                built = self.annotated_many(todo)
            except (InputError, KeyError):
                built = {}
            for c in todo:
                self._record(c, built.get(c, []))
            return
        for c in todo:
            try:
                self._record(c, self.annotated(c))
            except (InputError, KeyError):
                self._record(c, [])

    def _shared(self, res: Resource) -> Resource | None:
        """The same document, already placed through another cluster whose build reads every file that
        placed it (so a copy of a patch in another overlay never stands in for this overlay's own)."""
        key = self._key(res)
        if key is None or self.closure is None:
            return None
        twins = self._placed.get(key, ())
        if not twins:
            return None
        try:
            tree = self.closure(res.cluster).files
        except (InputError, KeyError):
            return None
        for twin in twins:
            files = self._writers(twin)
            if files and files <= tree:
                return twin
        return None

    def _writers(self, twin: Resource) -> set[str]:
        """The files that write this object: where it is declared or generated, and the patches that
        name it (kustomize lists an overlay as a transformer of every object it holds, patched or not)."""
        files = {f for f in (twin.origin, twin.generated_by) if f}
        for kustomization in twin.transformed_in:
            files |= {rel for rel in self._patch_files(kustomization)
                      if any(_same_object(doc, twin) for doc in self.nodes(rel))}
        return files

    def _from_tree(self, res: Resource) -> Resource | None:
        """The object's origin and patching kustomizations read from its overlay's kustomization tree,
        when that is unambiguous: no name prefix or suffix anywhere in the tree, no other object of the
        same kind and name in the cluster, and exactly one resource document of the tree declaring it.
        Anything else (generators, renames, duplicates) is left to kustomize's annotated build."""
        if self.closure is None:
            return None
        if res.cluster not in self._same_name:
            self._same_name[res.cluster] = {}
            for r in self.resources.get(res.cluster, ()):
                key = (r.kind, r.name)
                self._same_name[res.cluster][key] = self._same_name[res.cluster].get(key, 0) + 1
        if self._same_name[res.cluster].get((res.kind, res.name), 0) != 1:
            return None
        tree = self._tree_of(res.cluster)
        if tree is None:
            return None
        kustomizations, patch_files, resource_files = tree
        origins = [f for f in resource_files if self._declares(f, res)]
        if len(origins) != 1 or sum(self._declares(origins[0], res, count=True)) != 1:
            return None
        transformed = tuple(k for k in reversed(kustomizations)
                            if any(self._declares(f, res) for f in patch_files[k]))
        return Resource(res.cluster, res.body, origin=origins[0], transformed_in=transformed)

    def _tree_of(self, cluster: str) -> tuple[list[str], dict[str, list[str]], list[str]] | None:
        """(kustomizations, each one's patch files, resource files) of a cluster's tree, once per cluster;
        None when the tree renames objects or cannot be read."""
        if cluster not in self._trees:
            self._trees[cluster] = None
            try:
                tree = self.closure(cluster) if self.closure else None
            except (InputError, KeyError):
                tree = None
            if tree is None:
                return None
            patches: dict[str, list[str]] = {}
            for k in tree.kustomizations:
                docs = self.nodes(k)
                if not docs or any(yamlsrc.node_at(docs[0], key) is not None for key in _RENAMING):
                    return None
                patches[k] = self._patch_files(k)
            every_patch = {f for files in patches.values() for f in files}
            resources = [f for f in sorted(tree.manifests - every_patch) if f.endswith((".yaml", ".yml"))]
            self._trees[cluster] = (list(tree.kustomizations), patches, resources)
        return self._trees[cluster]

    def _declares(self, rel: str, res: Resource, count: bool = False):  # type: ignore[no-untyped-def]
        """Whether `rel` holds a document for this object: same kind, same name, and the same namespace
        when the document says one. With count=True, one boolean per document."""
        if res.name not in self._text(rel):  # most files of a tree are about other objects: skip parsing them
            return [] if count else False
        hits = [_scalar(doc, "kind") == res.kind and _scalar(doc, "metadata", "name") == res.name
                and _scalar(doc, "metadata", "namespace") in (None, res.namespace) for doc in self.nodes(rel)]
        return hits if count else any(hits)

    def prefetch(self, resources: Iterable[Resource]) -> None:
        """Annotated builds for every object that will be located, in as few clusters as possible and in
        parallel: one cluster per distinct document first, then the clusters whose copy did not fit."""
        if self.annotated is None:
            return
        needed = []
        for r in resources:
            if r.origin or r.generated_by or r.cluster in self._twins or id(r) in self._tree:
                continue
            placed = self._from_tree(r)
            if placed is not None:
                self._tree[id(r)] = (r, placed)
            else:
                needed.append(r)
        uncovered = {}
        for r in needed:
            key = self._key(r)
            if key is None or self.closure is None:
                uncovered.setdefault(("", r.cluster, "", r.cluster), r.cluster)
            elif key not in self._placed:
                uncovered.setdefault(key, r.cluster)
        holders: dict[_Key, set[str]] = {}
        if uncovered:
            for cluster, items in self.resources.items():
                for r in items:
                    key = self._key(r)
                    if key in uncovered:
                        holders.setdefault(key, set()).add(cluster)
        chosen: list[str] = []
        for key, cluster in uncovered.items():
            if not holders.get(key, set()) & {*chosen, *self._twins}:
                chosen.append(cluster)
        self._build(chosen)
        self._build([r.cluster for r in needed if r.cluster not in self._twins and self._shared(r) is None])

    def _with_origin(self, res: Resource) -> Resource:
        """The same object from an annotated build: another cluster's copy of the same document when it
        was placed through the same files, else this cluster's own (built once per cluster, on first need)."""
        if res.origin or res.generated_by or self.annotated is None:
            return res
        if id(res) in self._tree:
            return self._tree[id(res)][1]
        if res.cluster not in self._twins:
            placed = self._from_tree(res)
            if placed is not None:
                return placed
            shared = self._shared(res)
            if shared is not None:
                return shared
            self._build([res.cluster])
        return self._twins[res.cluster].get((res.kind, res.namespace, res.name), res)

    def _text(self, rel: str) -> str:
        if rel not in self._texts:
            try:
                self._texts[rel] = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[rel] = ""
        return self._texts[rel]

    def nodes(self, rel: str) -> list[yaml.Node]:
        if rel not in self._cache:
            try:
                self._cache[rel] = yamlsrc.compose_file(self.root / rel, self.root)
            except InputError:
                self._cache[rel] = []
        return self._cache[rel]

    def _patch_files(self, kustomization: str) -> list[str]:
        """Strategic-merge patch files (and the kustomization itself, for inline patches)."""
        docs = self.nodes(kustomization)
        if not docs:
            return []
        base = Path(kustomization).parent
        files: list[str] = []
        for key in ("patches", "patchesStrategicMerge"):
            seq = yamlsrc.node_at(docs[0], key)
            for entry in seq.value if isinstance(seq, yaml.SequenceNode) else []:
                path = yamlsrc.node_at(entry, "path") if isinstance(entry, yaml.MappingNode) else entry
                if isinstance(path, yaml.ScalarNode) and "\n" not in path.value:
                    files.append((base / path.value).as_posix())
        return files

    def candidates(self, res: Resource) -> list[str]:
        """Files that may set this object's fields, the most specific first."""
        files: list[str] = []
        for kustomization in reversed(res.transformed_in):
            files += self._patch_files(kustomization)
        if res.origin:
            files.append(res.origin)
        return list(dict.fromkeys(files))

    def locate(self, res: Resource, path: Sequence[PathElem]) -> SourceLocation | None:
        """The line of `path` in the most specific file that writes it; else the nearest enclosing field."""
        res = self._with_origin(res)
        best: tuple[int, SourceLocation] | None = None
        for rel in self.candidates(res):
            for doc in self.nodes(rel):
                if not _same_object(doc, res):
                    continue
                depth, node = _walk(doc, res.body, path)
                loc = SourceLocation(rel, node.start_mark.line + 1, node.start_mark.column + 1)
                if depth == len(path):
                    return loc
                if rel == res.origin and (best is None or depth > best[0]):
                    best = (depth, loc)
        if res.generated_by:
            return self._generator_line(res, path)
        return best[1] if best else None

    def _generator_line(self, res: Resource, path: Sequence[PathElem]) -> SourceLocation | None:
        """configMapGenerator / secretGenerator: point at the literal that sets the key, or the entry."""
        assert res.generated_by
        docs = self.nodes(res.generated_by)
        key = str(path[-1]) if path else ""
        for doc in docs:
            for n in _scalars(doc):
                if key and (n.value.startswith(f"{key}=") or n.value == key):
                    return SourceLocation(res.generated_by, n.start_mark.line + 1, n.start_mark.column + 1)
        if docs:
            return SourceLocation(res.generated_by, 1, 1)
        return None


def _scalars(node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for n in node.value:
            yield from _scalars(n)
    elif isinstance(node, yaml.MappingNode):
        for _, v in node.value:
            yield from _scalars(v)


def _scalar(doc: yaml.Node, *keys: str) -> str | None:
    node: yaml.Node | None = doc
    for k in keys:
        node = yamlsrc.node_at(node, k) if node is not None else None
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _same_object(doc: yaml.Node, res: Resource) -> bool:
    """Same kind, and a name that prefix/suffix transformers could have turned into the rendered one."""
    if _scalar(doc, "kind") != res.kind:
        return False
    name = _scalar(doc, "metadata", "name")
    return bool(name) and name in res.name


def _walk(doc: yaml.Node, rendered: Any, path: Sequence[PathElem]) -> tuple[int, yaml.Node]:
    """Follow `path` as far as the source node tree has it; return how far, and the node to point at
    (the key of a mapping field, so the line is the one that says "image: ...")."""
    node, mark, value = doc, doc, rendered
    for depth, elem in enumerate(path):
        nxt: yaml.Node | None = None
        key: yaml.Node | None = None
        if isinstance(elem, int) and isinstance(node, yaml.SequenceNode):
            item = value[elem] if isinstance(value, list) and elem < len(value) else None
            wanted = item.get("name") if isinstance(item, dict) else None
            if wanted is not None:
                nxt = next((n for n in node.value if _scalar(n, "name") == wanted), None)
            elif elem < len(node.value):
                nxt = node.value[elem]
            key, value = nxt, item
        elif isinstance(elem, str) and isinstance(node, yaml.MappingNode):
            key, nxt = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == elem),
                            (None, None))
            value = value.get(elem) if isinstance(value, dict) else None
        if nxt is None or key is None:
            return depth, mark
        node, mark = nxt, key
    return len(path), mark
