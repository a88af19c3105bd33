"""Map a field of a rendered object back to the file and line a person edits.

kustomize tells us which file declared an object (origin annotation) and which kustomizations
transformed it (transformer annotations), in an annotated build of the object's cluster, made only
when a finding in that cluster needs a line. A field's value comes from the most specific source:
a patch in an overlay beats the base.

- Objects are matched by exact kind, namespace and name. kustomize's annotations do not keep the
  pre-transform identity, so the name an object had at each level is worked out from the
  `namePrefix`/`nameSuffix` of the kustomizations that transformed it (outermost stripped first), and a
  `namespace:` transformer makes the source's own namespace irrelevant.
- Patches in `patches:` (and the older `patchesStrategicMerge:` / `patchesJson6902:`) of every
  kustomization that transformed the object, written in a file or inline: a strategic-merge patch
  that sets the field, or a JSON6902 operation whose path is the field (or contains it), is reported
  at its own line (inside the kustomization for an inline patch).
- configMapGenerator / secretGenerator: the literal (`KEY=value`), the `files:` entry or the env
  file line that makes the key.
- A failing fleet has findings in many clusters, and an annotated build costs about four plain ones.
  So the declaring file and the kustomizations above it are first read from the overlay's
  kustomization tree (kustomizations.Closures) when that is unambiguous: exactly one resource document
  of the tree declares the object, no other object of its kind and name is in the cluster, and no
  kustomization of the tree renames objects. Only the other objects need an annotated build, and those
  builds run in parallel (`prefetch`).
We walk the field path through each candidate's YAML nodes, matching list items by their `name` as
strategic merge does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import yaml

from gitops.infra import yamlsrc
from gitops.model.errors import InputError
from gitops.model.findings import SourceLocation
from gitops.infra.kustomizations import Closures
from gitops.model.resources import Resource

PathElem = str | int
_IDENTITY = (("metadata", "name"), ("metadata", "namespace"))
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Kustomization fields that rename objects: a tree with one is placed by kustomize's annotated build.
_RENAMING = ("namePrefix", "nameSuffix")


@dataclass(frozen=True)
class _Level:
    """A kustomization that transformed the object, with the name parts it adds."""

    kustomization: str
    prefix: str
    suffix: str
    namespace: str | None


@dataclass(frozen=True)
class _Patch:
    """One patch: its node tree, where its lines are (file, and the offset of an inline text), and its target."""

    kustomization: str
    file: str
    root: yaml.Node
    line_offset: int  # lines before the patch text in `file` (inline patches)
    column_offset: int
    target: dict[str, Any] | None
    json6902: bool

    def location(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, node.start_mark.line + 1 + self.line_offset,
                              node.start_mark.column + 1 + self.column_offset)


@dataclass
class SourceMap:
    root: Path
    # cluster name -> its annotated build; None where objects already carry their origin (tests, bootstrap).
    annotated: Callable[[str], list[Resource]] | None = None
    _cache: dict[str, list[yaml.Node]] = field(default_factory=dict)
    _texts: dict[str, str] = field(default_factory=dict)
    _twins: dict[str, dict[tuple[str, str, str], list[Resource]]] = field(default_factory=dict)
    _picked: dict[int, Resource] = field(default_factory=dict)
    _taken: set[int] = field(default_factory=set)
    _patch_cache: dict[str, list[_Patch]] = field(default_factory=dict)
    # Several clusters' annotated builds at once (in parallel); default: one after another through `annotated`.
    annotated_many: Callable[[list[str]], dict[str, list[Resource]]] | None = None
    # The plain build of every cluster (objects of one kind and name in a cluster are placed by kustomize).
    resources: dict[str, list[Resource]] = field(default_factory=dict)
    # The kustomization trees, and each cluster's overlay folder (repository-relative), for placing from the tree.
    closures: Closures | None = None
    overlays: dict[str, str] = field(default_factory=dict)
    _same_name: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    _trees: dict[str, tuple[list[str], dict[str, set[str]], list[str]] | None] = field(default_factory=dict)

    def _record(self, cluster: str, built: list[Resource]) -> None:
        twins: dict[tuple[str, str, str], list[Resource]] = {}
        for r in built:
            twins.setdefault((r.kind, r.namespace, r.name), []).append(r)
        self._twins[cluster] = twins

    def _build(self, clusters: list[str]) -> None:
        """Annotated builds of the clusters not built yet: all at once when there are several."""
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

    def prefetch(self, resources: Iterable[Resource]) -> None:
        """Place every object that will be located: from its tree where possible, and the annotated builds
        of the clusters of all the others in parallel (not one after another, as `locate` would)."""
        if self.annotated is None:
            return
        clusters = []
        for r in resources:
            if r.origin or r.generated_by or id(r) in self._picked or r.cluster in self._twins:
                continue
            placed = self._from_tree(r)
            if placed is not None:
                self._picked[id(r)] = placed
            else:
                clusters.append(r.cluster)
        self._build(clusters)

    # --- placing from the kustomization tree ---------------------------------------------------------

    def _from_tree(self, res: Resource) -> Resource | None:
        """The object with its origin and the kustomizations above it, read from its overlay's tree when
        that is unambiguous; None leaves it to kustomize's annotated build."""
        if self.closures is None or res.cluster not in self.overlays:
            return None
        if res.cluster not in self._same_name:
            counts: dict[tuple[str, str], int] = {}
            for r in self.resources.get(res.cluster, ()):
                counts[(r.kind, r.name)] = counts.get((r.kind, r.name), 0) + 1
            self._same_name[res.cluster] = counts
        if self._same_name[res.cluster].get((res.kind, res.name), 0) != 1:
            return None
        tree = self._tree_of(res.cluster)
        if tree is None:
            return None
        kustomizations, reads, resource_files = tree
        origins = [f for f in resource_files if self._declares(f, res)]
        if len(origins) != 1 or sum(self._declares(origins[0], res, count=True)) != 1:
            return None
        # The kustomizations whose build reads the declaring file, innermost first (as kustomize lists them).
        above = sorted((k for k in kustomizations if origins[0] in reads[k]), key=lambda k: len(reads[k]))
        return Resource(res.cluster, res.body, origin=origins[0], transformed_in=tuple(above))

    def _tree_of(self, cluster: str) -> tuple[list[str], dict[str, set[str]], list[str]] | None:
        """(kustomizations, the files each one's build reads, resource files) of a cluster's tree, once;
        None when the tree renames objects or cannot be read."""
        if cluster not in self._trees:
            self._trees[cluster] = None
            assert self.closures is not None
            try:
                tree = self.closures.of(self.root / self.overlays[cluster])
                reads = {k: self.closures.of(self.root / Path(k).parent).files for k in tree.kustomizations}
            except (InputError, KeyError, OSError):
                return None
            patch_files: set[str] = set()
            for k in tree.kustomizations:
                docs = self.nodes(k)
                if not docs or any(yamlsrc.node_at(docs[0], key) is not None for key in _RENAMING):
                    return None
                patch_files |= {p.file for p in self._patches(k)}
            resources = [f for f in sorted(tree.manifests - patch_files) if f.endswith((".yaml", ".yml"))]
            self._trees[cluster] = (list(tree.kustomizations), reads, resources)
        return self._trees[cluster]

    def _declares(self, rel: str, res: Resource, count: bool = False):  # noqa: ANN202 - bool, or a count
        """Whether `rel` holds a document for this object: same kind and name, and the same namespace when
        the document names one. With count=True, one boolean per document."""
        if res.name not in self._text(rel):  # most files of a tree are about other objects: skip parsing them
            return [] if count else False
        hits = [_scalar(doc, "kind") == res.kind and _scalar(doc, "metadata", "name") == res.name
                and _scalar(doc, "metadata", "namespace") in (None, res.namespace) for doc in self.nodes(rel)]
        return hits if count else any(hits)

    # --- annotated builds ----------------------------------------------------------------------------

    def _with_origin(self, res: Resource) -> Resource:
        """The same object placed from its tree, else from its cluster's annotated build (built once per
        cluster, on first need).

        Two objects with one kind, namespace and name (a duplicate) are told apart by their content.
        """
        if res.origin or res.generated_by or self.annotated is None:
            return res
        if id(res) in self._picked:
            return self._picked[id(res)]
        if res.cluster not in self._twins:
            placed = self._from_tree(res)
            if placed is not None:
                self._picked[id(res)] = placed
                return placed
            self._build([res.cluster])
        same = self._twins[res.cluster].get((res.kind, res.namespace, res.name), [])
        twin = same[0] if len(same) == 1 else next(
            (t for t in same if t.body == res.body and id(t) not in self._taken),
            next((t for t in same if t.body == res.body), same[0] if same else res))
        self._picked[id(res)] = twin
        self._taken.add(id(twin))
        return twin

    # --- files ------------------------------------------------------------------------------------

    def nodes(self, rel: str) -> list[yaml.Node]:
        if rel not in self._cache:
            try:
                self._cache[rel] = yamlsrc.compose_file(self.root / rel, self.root)
            except InputError:
                self._cache[rel] = []
        return self._cache[rel]

    def _text(self, rel: str) -> str:
        if rel not in self._texts:
            try:
                self._texts[rel] = (self.root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[rel] = ""
        return self._texts[rel]

    def _levels(self, res: Resource) -> list[_Level]:
        """The kustomizations that transformed the object, innermost first, with their name transformers."""
        out = []
        for k in res.transformed_in:
            docs = self.nodes(k)
            doc = docs[0] if docs else None
            out.append(_Level(k, _scalar(doc, "namePrefix") or "", _scalar(doc, "nameSuffix") or "",
                              _scalar(doc, "namespace")))
        return out

    def _patches(self, kustomization: str) -> list[_Patch]:
        if kustomization not in self._patch_cache:
            self._patch_cache[kustomization] = list(self._find_patches(kustomization))
        return self._patch_cache[kustomization]

    def _find_patches(self, kustomization: str) -> Iterator[_Patch]:
        """Every patch of a kustomization, in the order kustomize applies them (later ones win)."""
        docs = self.nodes(kustomization)
        if not docs:
            return
        base = Path(kustomization).parent
        for key in ("patchesStrategicMerge", "patchesJson6902", "patches"):
            seq = yamlsrc.node_at(docs[0], key)
            for entry in seq.value if isinstance(seq, yaml.SequenceNode) else []:
                target = None
                if isinstance(entry, yaml.MappingNode):
                    target_node = yamlsrc.node_at(entry, "target")
                    target = _plain(target_node) if target_node is not None else None
                    path, inline = yamlsrc.node_at(entry, "path"), yamlsrc.node_at(entry, "patch")
                else:
                    path, inline = (entry, None) if "\n" not in getattr(entry, "value", "\n") else (None, entry)
                if isinstance(path, yaml.ScalarNode):
                    rel = (base / path.value).as_posix()
                    for root in self.nodes(rel):
                        yield _Patch(kustomization, rel, root, 0, 0, target, isinstance(root, yaml.SequenceNode))
                elif isinstance(inline, yaml.ScalarNode):
                    yield from self._inline(kustomization, inline, target)

    def _inline(self, kustomization: str, node: yaml.ScalarNode, target: dict[str, Any] | None) -> Iterator[_Patch]:
        """A patch written inside the kustomization: its lines are the block scalar's lines."""
        try:  # the text of a scalar: the file's own alias and depth check never saw inside it
            yamlsrc.check_expansion(node.value, kustomization)
            roots = [r for r in yaml.compose_all(node.value, Loader=_Loader) if r is not None]
        except (yaml.YAMLError, InputError):
            return
        if node.style in ("|", ">"):
            offset = node.start_mark.line + 1
            lines = self._text(kustomization).splitlines()
            first = next((line for line in lines[offset:] if line.strip()), "")
            indent = len(first) - len(first.lstrip(" "))
        else:  # a quoted or plain one-line patch: point at the scalar
            offset, indent = node.start_mark.line, node.start_mark.column
        for root in roots:
            yield _Patch(kustomization, kustomization, root, offset, indent, target, isinstance(root, yaml.SequenceNode))

    # --- locating ---------------------------------------------------------------------------------

    def kustomization_field(self, res: Resource, key: str) -> SourceLocation | None:
        """The line of a top-level `key` (e.g. `namespace`) in the most specific kustomization that changed
        `res`: where a transformer, not the object's own file, set the field."""
        for kustomization in reversed(self._with_origin(res).transformed_in):
            docs = self.nodes(kustomization)
            line = yamlsrc.key_line(docs[0], key) if docs else None
            if line:
                return SourceLocation(kustomization, line)
        return None

    def locate(self, res: Resource, path: Sequence[PathElem]) -> SourceLocation | None:
        """The line of `path` in the most specific source that writes it; else the nearest enclosing field."""
        res = self._with_origin(res)
        levels = self._levels(res)
        for i in reversed(range(len(levels))):  # the outermost kustomization's patches first
            name = _name_at(res.name, levels[i:])
            for patch in reversed(self._patches(levels[i].kustomization)):
                loc = self._in_patch(patch, res, name, path)
                if loc is not None:
                    return loc
        best: SourceLocation | None = None
        if res.origin:
            name = _name_at(res.name, levels)
            renamed_ns = any(level.namespace for level in levels)
            best_depth = -1
            for doc in self.nodes(res.origin):
                if not _same_object(doc, res, name, renamed_ns):
                    continue
                depth, node = _walk(doc, res.body, path)
                loc = SourceLocation(res.origin, node.start_mark.line + 1, node.start_mark.column + 1)
                if depth == len(path):
                    return loc
                if depth > best_depth:
                    best, best_depth = loc, depth
        if res.generated_by:
            return self._generator_line(res, path, levels) or best
        return best

    def _in_patch(self, patch: _Patch, res: Resource, name: str, path: Sequence[PathElem]) -> SourceLocation | None:
        if patch.target is not None and not _targets(patch.target, res, name):
            return None
        if patch.json6902:
            return self._in_operations(patch, res, path) if patch.target is not None else None
        if tuple(path[:2]) in _IDENTITY or (path and path[0] in ("kind", "apiVersion")):
            return None  # a strategic-merge patch names its object; it does not set these
        if patch.target is None and not _same_object(patch.root, res, name, True):
            return None
        depth, node = _walk(patch.root, res.body, path)
        return patch.location(node) if depth == len(path) and path else None

    def _in_operations(self, patch: _Patch, res: Resource, path: Sequence[PathElem]) -> SourceLocation | None:
        """The last JSON6902 add/replace whose path is the field, or contains it."""
        want = [str(p) for p in path]
        for op in reversed(patch.root.value if isinstance(patch.root, yaml.SequenceNode) else []):
            kind, pointer = _scalar(op, "op"), _scalar(op, "path")
            if kind not in ("add", "replace") or pointer is None:
                continue
            elems = [e.replace("~1", "/").replace("~0", "~") for e in pointer.split("/")[1:]]
            if elems != want[:len(elems)]:
                continue
            value_key = next((k for k, _ in op.value if isinstance(k, yaml.ScalarNode) and k.value == "value"), None)
            value = yamlsrc.node_at(op, "value")
            if value_key is None or value is None:
                return patch.location(op)
            rest = path[len(elems):]
            if not rest:
                return patch.location(value_key)
            depth, node = _walk(value, _dig(res.body, path[:len(elems)]), rest)
            return patch.location(node if depth == len(rest) else value_key)
        return None

    def _generator_line(self, res: Resource, path: Sequence[PathElem], levels: list[_Level]) -> SourceLocation | None:
        """configMapGenerator / secretGenerator: the literal, file entry or env-file line that makes the key."""
        assert res.generated_by
        docs = self.nodes(res.generated_by)
        if not docs:
            return None
        key = str(path[1]) if len(path) >= 2 and path[0] in ("data", "binaryData", "stringData") else ""
        name = _HASHED.sub("", _name_at(res.name, levels))
        entries = [e for gen in ("configMapGenerator", "secretGenerator")
                   for seq in [yamlsrc.node_at(docs[0], gen)] if isinstance(seq, yaml.SequenceNode)
                   for e in seq.value if isinstance(e, yaml.MappingNode)]
        entry = next((e for e in entries if _scalar(e, "name") == name), None)
        if entry is None:
            return SourceLocation(res.generated_by, 1, 1)
        here = lambda n: SourceLocation(res.generated_by, n.start_mark.line + 1, n.start_mark.column + 1)  # noqa: E731
        if key:
            for item in _items(entry, "literals"):
                if item.value.partition("=")[0].strip() == key:
                    return here(item)
            for item in _items(entry, "files"):
                named, _, source = item.value.partition("=")
                if (named if source else Path(named).name) == key:
                    return here(item)
            for item in _items(entry, "envs") + _items(entry, "env"):
                rel = (Path(res.generated_by).parent / item.value).as_posix()
                for n, line in enumerate(self._text(rel).splitlines(), 1):
                    if line.partition("=")[0].strip() == key:
                        return SourceLocation(rel, n, 1)
        return here(entry)


_HASHED = re.compile(r"-[2456789bcdfghkmt]{10}$")


def _items(entry: yaml.Node, key: str) -> list[yaml.ScalarNode]:
    seq = yamlsrc.node_at(entry, key)
    return [n for n in seq.value if isinstance(n, yaml.ScalarNode)] if isinstance(seq, yaml.SequenceNode) else []


def _plain(node: yaml.Node) -> dict[str, Any] | None:
    try:
        value = yamlsrc.construct(node)
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


def _dig(value: Any, path: Sequence[PathElem]) -> Any:
    for elem in path:
        try:
            value = value[int(elem) if isinstance(value, list) else elem]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def _name_at(rendered: str, levels: Sequence[_Level]) -> str:
    """The object's name before `levels` (innermost first) added their prefixes and suffixes."""
    name = rendered
    hashed = _HASHED.search(name)
    tail = hashed.group(0) if hashed else ""
    name = name[: len(name) - len(tail)]
    for level in reversed(levels):
        if level.prefix and name.startswith(level.prefix):
            name = name[len(level.prefix):]
        if level.suffix and name.endswith(level.suffix):
            name = name[: -len(level.suffix)]
    return name + tail


def _targets(target: dict[str, Any], res: Resource, name: str) -> bool:
    """A patch `target:` selector (kind, name as a regular expression, namespace, group, version, labels)."""
    group, _, version = res.api_version.rpartition("/")
    checks = {"kind": res.kind, "group": group, "version": version}
    for key, have in checks.items():
        if key in target and str(target[key]) != have:
            return False
    if "name" in target:
        try:
            if not re.fullmatch(str(target["name"]), name):
                return False
        except re.error:
            return False
    if "namespace" in target and str(target["namespace"]) != res.namespace:
        return False
    selector = str(target.get("labelSelector") or "")
    for term in filter(None, (t.strip() for t in selector.split(","))):
        k, _, v = term.partition("=")
        if res.labels.get(k.strip()) != v.strip().lstrip("="):
            return False
    return True


def _scalar(doc: yaml.Node | None, *keys: str) -> str | None:
    node: yaml.Node | None = doc
    for k in keys:
        node = yamlsrc.node_at(node, k) if node is not None else None
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _same_object(doc: yaml.Node, res: Resource, name: str, renamed_ns: bool) -> bool:
    """Same kind and name (as it was before the name transformers), and namespace unless a transformer set it."""
    if _scalar(doc, "kind") != res.kind or _scalar(doc, "metadata", "name") != name:
        return False
    return renamed_ns or (_scalar(doc, "metadata", "namespace") or "") == res.namespace


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
