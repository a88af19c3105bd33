"""The dependency closure of an overlay: every kustomization and file its build reads.

Walking it before kustomize runs lets us reject remote resources and name the missing file
and line ourselves, bound the objects an overlay makes before kustomize spends minutes on them,
and tells the validate cache and incremental validation everything a build can read (`inputs`,
`reach`: the closure, plus everything under its kustomizations' folders, links followed).
"""
from __future__ import annotations

import errno
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gitops.infra import settings, yamlsrc
from gitops.model.errors import InputError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Fields whose files hold Kubernetes objects (or patches); generator files are data, not manifests.
_MANIFEST_FIELDS = {"resources", "crds", "patches", "patchesStrategicMerge", "patchesJson6902", "replacements",
                    "configurations", "generators", "transformers", "validators"}
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=|//.*\?", re.I)


@dataclass
class Closure:
    """What one overlay's build reads, as repository-relative POSIX paths."""

    kustomizations: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)  # the files kustomize parses as YAML objects
    objects: set[str] = field(default_factory=set)  # resources files: each document must be one object
    openapi: bool = False  # a kustomization sets `openapi:` (kyaml keeps that schema process-wide)
    # This kustomization's own share of the objects (not its subtrees'), to bound them before a build:
    made: list[str] = field(default_factory=list)  # files of objects or generator configs, each time it names one
    below: list[Path] = field(default_factory=list)  # folders it builds, each time it names one
    generated: int = 0  # its configMapGenerator and secretGenerator entries


@dataclass(frozen=True)
class Reached:
    """One entry under a kustomization's folder as a build can reach it (`Closures.reach`)."""

    path: str  # repository-relative, through any link on the way
    link: str  # the link's text when the entry is a link, else ""
    real: str | None  # repository-relative real path; None when it leads outside the repository
    folder: bool
    regular: bool  # a regular file inside the repository (not a FIFO or a device, which are never opened)


def max_objects() -> int:
    """Most objects one overlay may build (GITOPS_MAX_OBJECTS_PER_OVERLAY): kustomize's time grows faster than its
    object count (1,000 ConfigMaps: 1.5 s of CPU, 2,000: 14 s, 4,000: 69 s), so 20,000 would run for hours."""
    return settings.current().max_objects_per_overlay


_DOCUMENT = re.compile(r"^---(?=[ \t\r]|$)", re.M)  # at column 0, always a new document (YAML's c-forbidden)
_LIST = re.compile(r"^kind:[ \t]*['\"]?\w*List['\"]?[ \t]*$", re.M)
_ITEM = re.compile(r"^[ \t]*-[ \t]+(?:apiVersion|kind)[ \t]*:", re.M)


def object_count(text: str) -> int:
    """How many objects a manifest file holds at most, without parsing it: its documents, plus the items of a List."""
    count = len(_DOCUMENT.findall(text)) + 1
    if _LIST.search(text):
        count += len(_ITEM.findall(text))
    return count


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def _abs(path: Path) -> Path:
    """An absolute, normalised path. Not resolve(): symlinks need not be followed to compare repository
    paths, and resolving every reference of fifty overlays was a measurable part of a run."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _rel(path: Path, root: Path) -> str:
    try:
        return _abs(path).relative_to(_abs(root)).as_posix()
    except ValueError:
        return str(path)


def _below(path: str, folder: str) -> bool:
    """`path` is `folder` or lies in it (both absolute and normalised); string work, as this runs per reference."""
    return path == folder or path.startswith(folder if folder.endswith(os.sep) else folder + os.sep)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _references(doc: yaml.Node) -> list[tuple[str, str, yaml.ScalarNode]]:
    """(field, kind, node) for every path a kustomization refers to; kind is 'any', 'dir' or 'file'."""
    refs: list[tuple[str, str, yaml.ScalarNode]] = []

    def scalars(node: yaml.Node | None) -> list[yaml.ScalarNode]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        # An empty field ("components:" with nothing under it) is null: it refers to nothing.
        return [n for n in items if isinstance(n, yaml.ScalarNode) and n.tag != "tag:yaml.org,2002:null"]

    def entries(node: yaml.Node | None) -> list[yaml.Node]:
        return node.value if isinstance(node, yaml.SequenceNode) else []

    for key, kind in (("resources", "any"), ("bases", "dir"), ("components", "dir"), ("crds", "file"),
                      ("configurations", "file"), ("generators", "any"), ("transformers", "any"),
                      ("validators", "any")):
        refs += [(key, kind, n) for n in scalars(yamlsrc.node_at(doc, key))]
    for key in ("patches", "patchesJson6902", "replacements"):
        for entry in entries(yamlsrc.node_at(doc, key)):
            path = yamlsrc.node_at(entry, "path")
            if isinstance(path, yaml.ScalarNode):
                refs.append((key, "file", path))
    for entry in entries(yamlsrc.node_at(doc, "patchesStrategicMerge")):
        # An entry is either a file name or an inline patch; inline ones span several lines.
        if isinstance(entry, yaml.ScalarNode) and "\n" not in entry.value:
            refs.append(("patchesStrategicMerge", "file", entry))
    for key in ("configMapGenerator", "secretGenerator"):
        for entry in entries(yamlsrc.node_at(doc, key)):
            for n in scalars(yamlsrc.node_at(entry, "files")):
                refs.append((key, "file", yaml.ScalarNode(n.tag, n.value.split("=", 1)[-1], n.start_mark, n.end_mark)))
            refs += [(key, "file", n) for n in scalars(yamlsrc.node_at(entry, "envs"))]
            refs += [(key, "file", n) for n in scalars(yamlsrc.node_at(entry, "env"))]
    openapi = yamlsrc.node_at(doc, "openapi")
    path = yamlsrc.node_at(openapi, "path") if openapi is not None else None
    if isinstance(path, yaml.ScalarNode):
        refs.append(("openapi", "file", path))
    return refs


class Closures:
    """Closures of every overlay of one run; a base shared by fifty overlays is read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[Path, Closure] = {}
        self._prechecked: set[str] = set()
        self._objects: dict[str, int] = {}  # object_count of each file read by precheck
        self._estimates: dict[Path, dict[str, int]] = {}
        self._reached: dict[str, list[Reached]] = {}
        self._abs_root = str(_abs(root))
        self._real_root = os.path.realpath(root)
        self._reals: dict[str, str] = {}

    def of(self, directory: Path) -> Closure:
        """Walk a kustomization tree; raise InputError on remote, missing or absolute references."""
        return self._walk(_abs(directory), ())

    def check_manifests(self, directory: Path) -> None:
        """Parse every manifest the build reads; raise InputError at the first malformed line.

        Only run when kustomize has failed: it rejects malformed YAML and duplicate keys too, but
        without naming the file, and parsing every file of every overlay up front would cost more
        than the builds save.
        """
        closure = self.of(directory)
        for rel in sorted(closure.manifests):
            if rel.endswith((".yaml", ".yml", ".json")):
                docs = yamlsrc.compose_file(self.root / rel, self.root)
                if rel in closure.objects:
                    for doc in docs:
                        _check_object(doc, rel)

    def _real_dir(self, directory: str) -> str:
        """realpath of a folder, memoised: the folders of fifty overlays' references are few."""
        real = self._reals.get(directory)
        if real is None:
            real = self._reals[directory] = os.path.realpath(directory)
        return real

    def _contained(self, target: Path, value: str, key: str, rel: str, line: int, col: int) -> None:
        """Refuse a reference (`target`: absolute, normalised) that leaves the repository, lexically or through
        a symlink (kustomize's load restrictor stops file symlinks but not folder symlinks), or that runs into a
        symlink loop. String work and one lstat per reference: this runs for every entry of every overlay."""
        lexical = str(target)
        if not _below(lexical, self._abs_root):
            raise InputError(f"{key} entry {value!r} is outside the repository", rel, line, col)
        parent, name = os.path.split(lexical)
        real = os.path.join(self._real_dir(parent), name)
        if os.path.islink(real):
            try:
                os.stat(real)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise InputError(f"{key} entry {value!r} is a symlink loop", rel, line, col) from None
            real = os.path.realpath(real)
        if _below(real, self._real_root):
            return
        link = target
        for part in [*reversed(target.parents), target]:  # the first symlink on the way that leaves the repository
            if _below(str(part), self._abs_root) and part.is_symlink() and \
                    not _below(os.path.realpath(part), self._real_root):
                link = part
                break
        raise InputError(f"{key} entry {value!r} leads outside the repository through the symlink "
                         f"{_rel(link, self.root)} -> {os.readlink(link) if link.is_symlink() else '?'}; "
                         "the build may read only files of this repository", rel, line, col)

    def _no_functions(self, target: Path, value: str, key: str, rel: str, line: int, col: int) -> None:
        """Exec and container KRM functions run programs: never allowed (kustomize runs without --enable-exec)."""
        for doc in yamlsrc.compose_file(target, self.root):
            meta = yamlsrc.node_at(doc, "metadata")
            annotations = yamlsrc.node_at(meta, "annotations") if meta is not None else None
            if annotations is not None and yamlsrc.node_at(annotations, "config.kubernetes.io/function") is not None:
                raise InputError(f"{key} entry {value!r} is a KRM function (exec or container), which would run a "
                                 "program during the build; not allowed: use a built-in generator or transformer",
                                 rel, line, col)

    def precheck(self, directory: Path) -> None:
        """Every file the build reads, before kustomize sees it: the size limit for all, and for YAML the
        UTF-8 and alias-expansion limits, each error naming the file (and line); then the objects the
        overlay would make (max_objects)."""
        closure = self.of(directory)
        yaml_files = set(closure.kustomizations) | closure.manifests
        for rel in sorted(closure.files - self._prechecked):
            shown = rel
            text = yamlsrc.read_checked(self.root / rel, shown)
            if rel in yaml_files:
                yamlsrc.check_expansion(text, shown)
                self._objects[rel] = object_count(text)
            self._prechecked.add(rel)
        self._bound_objects(directory)

    def _shares(self, directory: Path) -> dict[str, int]:
        """{file: objects the build of `directory` makes from it at most}: documents of its resources and generator
        files, generator entries (under the kustomization's name), and each folder's shares as often as it is named
        (two name-prefixed copies of a base are two builds of it). Memoised per folder: a tree that doubles at
        every level is counted, never expanded."""
        key = _abs(directory)
        if key not in self._estimates:
            closure = self.of(key)
            shares = dict.fromkeys(closure.made, 0)
            for rel in closure.made:
                shares[rel] += self._objects.get(rel, 0)
            if closure.generated:
                shares[closure.kustomizations[0]] = shares.get(closure.kustomizations[0], 0) + closure.generated
            for sub in closure.below:
                for rel, count in self._shares(sub).items():
                    shares[rel] = shares.get(rel, 0) + count
            self._estimates[key] = shares
        return self._estimates[key]

    def _bound_objects(self, directory: Path) -> None:
        """InputError, at the file that contributes most, when the overlay would build more than max_objects()."""
        limit = max_objects()
        shares = self._shares(directory)
        total = sum(shares.values())
        if total <= limit:
            return
        biggest = max(shares, key=lambda rel: (shares[rel], rel))
        line = None
        if self._objects.get(biggest, 0) > limit:  # one file holds too many: the line of the document past the limit
            text = yamlsrc.read_checked(self.root / biggest, biggest)
            starts = [m.start() for m in _DOCUMENT.finditer(text)]
            index = limit if starts and starts[0] == 0 else limit - 1
            line = text[:starts[index]].count("\n") + 1 if index < len(starts) else None
        raise InputError(f"overlay {_rel(directory, self.root)} would build about {total:,} objects ({shares[biggest]:,} "
                         "from this file), over the limit of "
                         f"{limit:,} objects per overlay (GITOPS_MAX_OBJECTS_PER_OVERLAY): kustomize's time grows "
                         "faster than the number of objects; split the overlay, or raise the limit", biggest, line)

    def reach(self, folder: str) -> list[Reached]:
        """Everything under a kustomization's folder ("" for the repository root) that a build could read, whatever
        its name: kustomize reads what a transformer's or generator's config names, and through a folder link
        reads the folder it leads to. Links inside the repository are followed (each real folder once); one that
        leaves it is listed, not followed. The repository's own .git is not an input. Sorted, memoised."""
        if folder not in self._reached:
            out: list[Reached] = []
            seen: set[str] = set()
            todo = [(folder, os.path.realpath(self.root / folder))]
            while todo:
                here, real_here = todo.pop()
                if real_here in seen:
                    continue
                seen.add(real_here)
                try:
                    entries = sorted(os.scandir(self.root / here), key=lambda e: e.name)
                except OSError:
                    continue
                for entry in entries:
                    if not here and entry.name == ".git":
                        continue
                    path = f"{here}/{entry.name}" if here else entry.name
                    if entry.is_symlink():  # only a link needs resolving: the others are where their folder is
                        link, real = os.readlink(entry.path), os.path.realpath(entry.path)
                        inside = _below(real, self._real_root)
                        is_folder, regular = inside and os.path.isdir(real), inside and os.path.isfile(real)
                    else:
                        link, real, inside = "", os.path.join(real_here, entry.name), True
                        is_folder, regular = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
                    real_rel = real[len(self._real_root):].lstrip(os.sep).replace(os.sep, "/") if inside else None
                    out.append(Reached(path, link, real_rel, is_folder, regular))
                    if is_folder:
                        todo.append((path, real))
            self._reached[folder] = sorted(out, key=lambda r: r.path)
        return self._reached[folder]

    def inputs(self, directory: Path) -> tuple[set[str], set[str]]:
        """(files, folders): every path an overlay's build can read, as reached and as its real path, and the folders
        (its kustomizations', and those links lead to) in which any file, even one deleted since, is an input.
        What the validate cache keys a build on, and what `--changed-since` matches changed files against."""
        closure = self.of(directory)
        folders = {posixpath.dirname(k) for k in closure.kustomizations}
        files = set(closure.files)
        files |= {os.path.relpath(os.path.realpath(self.root / f), self._real_root).replace(os.sep, "/")
                  for f in closure.files}
        for folder in sorted(folders):
            for entry in self.reach(folder):
                files.add(entry.path)
                if entry.real is not None:
                    (folders if entry.folder and entry.link else files).add(entry.real)
        return files, folders

    def explain(self, directory: Path, message: str) -> tuple[str, int] | None:
        """The kustomization (or manifest) file and line a kustomize error message is about: an invalid
        kustomization it names, a path it names, or an object id (Kind.version.group/name.namespace)."""
        closure = self.of(directory)
        root = str(_abs(self.root))

        def first(files: list[str], pattern: str) -> tuple[str, int] | None:
            for f in files:
                for number, text in enumerate(_lines(self.root / f), 1):
                    if re.search(pattern, text):
                        return f, number
            return None

        invalid = re.search(r"couldn't make target for path '([^']+)': invalid Kustomization: (.*)", message)
        if invalid and invalid.group(1).startswith(root):
            file = find_kustomization(Path(invalid.group(1)))
            if file is not None:
                rel = _rel(file, self.root)
                field = re.search(r'unknown field "([^"]+)"', invalid.group(2))
                found = first([rel], rf"^\s*{re.escape(field.group(1))}\s*:") if field else None
                return found or (rel, 1)
        paths = set(re.findall(r"[\w./-]+\.(?:ya?ml|json|env|properties|txt)\b|[\w./-]+/[\w.-]+", message))
        for p in sorted(paths, key=len, reverse=True):
            tail = re.escape(p.rstrip("/").rsplit("/", 1)[-1])
            if tail and (found := first(closure.kustomizations, rf"(^|[\s/'\"=]){tail}(['\"]|\s*$)")):
                return found
        ids = re.findall(r"\b([A-Z]\w*)\.[\w.\[\]]+/([a-z0-9][-a-z0-9.]*?)\.(?:\[noNs\]|[a-z0-9-]+)\b", message)
        # A patch with no target: the patch file names the object; otherwise the file that declares it.
        patches_first = sorted(closure.manifests, key=lambda f: (("patch" in message) == (f in closure.objects), f))
        for kind, name in ids:
            of_kind = [f for f in patches_first if any(re.match(rf"^kind:\s*{kind}\s*$", t) for t in _lines(self.root / f))]
            if found := first(of_kind + closure.kustomizations, rf"^\s{{0,2}}name:\s*['\"]?{re.escape(name)}['\"]?\s*$"):
                return found
        if ids:  # a generated or prefixed name: the kustomization that renames
            return first(closure.kustomizations, r"^\s*name(Prefix|Suffix):") or (closure.kustomizations[0], 1)
        return None

    def _walk(self, directory: Path, stack: tuple[Path, ...]) -> Closure:
        if directory in self._memo:
            return self._memo[directory]
        root = self.root
        file = find_kustomization(directory)
        if file is None:
            raise InputError("no kustomization.yaml in this directory", _rel(directory, root))
        rel = _rel(file, root)
        if os.path.islink(file) and not _below(os.path.realpath(file), self._real_root):
            raise InputError(f"is a symlink to {os.path.realpath(file)}, outside the repository", rel)
        result = Closure([rel], {rel})
        docs = yamlsrc.compose_file(file, root)
        result.openapi = bool(docs) and yamlsrc.node_at(docs[0], "openapi") is not None
        for key in ("configMapGenerator", "secretGenerator"):
            entries = yamlsrc.node_at(docs[0], key) if docs else None
            result.generated += len(entries.value) if isinstance(entries, yaml.SequenceNode) else 0
        helm_line = yamlsrc.key_line(docs[0], "helmCharts") if docs else None
        if helm_line:
            raise InputError("helmCharts needs kustomize --enable-helm, which this repository does not allow; "
                             "render the chart into a base instead", rel, helm_line)
        for key, kind, node in _references(docs[0]) if docs else ():
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            value = node.value.strip()
            if _REMOTE.search(value):
                raise InputError(f"{key} entry {value!r} is a remote resource; remote resources are not allowed "
                                 "(the build must be reproducible offline): vendor it into base/", rel, line, col)
            if value.startswith("/"):
                raise InputError(f"{key} entry {value!r} is an absolute path; use a path relative to {rel}",
                                 rel, line, col)
            target = _abs(directory / value)
            self._contained(target, value, key, rel, line, col)
            if kind != "dir" and not target.is_dir() and not _below(str(target), str(directory)):
                raise InputError(f"{key} entry {value!r} is outside this kustomization's folder "
                                     f"{_rel(directory, root)}/: kustomize loads files only from in or below it "
                                 "(refer to a folder with its own kustomization instead)", rel, line, col)
            if key in ("generators", "transformers", "validators") and target.is_file():
                self._no_functions(target, value, key, rel, line, col)
            if target.is_dir():
                if kind == "file":
                    raise InputError(f"{key} entry {value!r} is a directory; a file is expected", rel, line, col)
                if target in stack or target == directory or \
                        self._real_dir(str(target)) in {self._real_dir(str(d)) for d in (*stack, directory)}:
                    raise InputError(f"{key} entry {value!r} makes a cycle", rel, line, col)
                sub = self._walk(target, (*stack, directory))
                result.below.append(target)
                result.kustomizations += [k for k in sub.kustomizations if k not in result.kustomizations]
                result.files |= sub.files
                result.manifests |= sub.manifests
                result.objects |= sub.objects
                result.openapi |= sub.openapi
            elif target.is_file():
                if kind == "dir":
                    raise InputError(f"{key} entry {value!r} is a file; a directory is expected", rel, line, col)
                result.files.add(_rel(target, root))
                if key in _MANIFEST_FIELDS:
                    result.manifests.add(_rel(target, root))
                if key == "resources":
                    result.objects.add(_rel(target, root))
                if key in ("resources", "generators"):
                    result.made.append(_rel(target, root))
            else:
                raise InputError(f"{key} entry {value!r} does not exist", rel, line, col)
        self._memo[directory] = result
        return result


def _check_object(doc: yaml.Node, rel: str) -> None:
    """One document of a resources file is one Kubernetes object: a mapping with kind and metadata.name."""
    line = doc.start_mark.line + 1
    if not isinstance(doc, yaml.MappingNode):
        raise InputError("a resources file holds Kubernetes objects, one mapping per document; this document is "
                         f"a {'list' if isinstance(doc, yaml.SequenceNode) else 'scalar'}", rel, line)
    for key in ("apiVersion", "kind"):
        value = yamlsrc.node_at(doc, key)
        if not isinstance(value, yaml.ScalarNode) or not value.value:
            raise InputError(f"object without {key}", rel, line)
    if yamlsrc.node_at(doc, "kind").value.endswith("List"):  # type: ignore[union-attr]
        return  # a v1 List: kustomize unpacks its items
    meta = yamlsrc.node_at(doc, "metadata")
    if not isinstance(meta, yaml.MappingNode):
        raise InputError("metadata must be a mapping with at least a name", rel,
                         yamlsrc.key_line(doc, "metadata") or line)
    name = yamlsrc.node_at(meta, "name")
    if not isinstance(name, yaml.ScalarNode) or not name.value:
        raise InputError("object without metadata.name", rel, yamlsrc.key_line(doc, "metadata") or line)
