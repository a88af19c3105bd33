"""The dependency closure of an overlay: every kustomization and file its build reads.

Walking it before kustomize runs lets us reject remote resources and name the missing file
and line ourselves, and tells incremental validation which overlays a changed file touches.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import yamlsrc
from .errors import InputError

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
    if openapi is not None and isinstance(yamlsrc.node_at(openapi, "path"), yaml.ScalarNode):
        refs.append(("openapi", "file", yamlsrc.node_at(openapi, "path")))
    return refs


class Closures:
    """Closures of every overlay of one run; a base shared by fifty overlays is read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memo: dict[Path, Closure] = {}

    def of(self, directory: Path) -> Closure:
        """Walk a kustomization tree; raise InputError on remote, missing or absolute references."""
        return self._walk(_abs(directory), ())

    def check_manifests(self, directory: Path) -> None:
        """Parse every manifest the build reads; raise InputError at the first malformed line.

        Only run when kustomize has failed: it rejects malformed YAML and duplicate keys too, but
        without naming the file, and parsing every file of every overlay up front would cost more
        than the builds save.
        """
        for rel in sorted(self.of(directory).manifests):
            if rel.endswith((".yaml", ".yml")):
                yamlsrc.compose_file(self.root / rel, self.root)

    def _walk(self, directory: Path, stack: tuple[Path, ...]) -> Closure:
        if directory in self._memo:
            return self._memo[directory]
        root = self.root
        file = find_kustomization(directory)
        if file is None:
            raise InputError("no kustomization.yaml in this directory", _rel(directory, root))
        rel = _rel(file, root)
        result = Closure([rel], {rel})
        docs = yamlsrc.compose_file(file, root)
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
            if target.is_dir():
                if kind == "file":
                    raise InputError(f"{key} entry {value!r} is a directory; a file is expected", rel, line, col)
                if target in stack or target == directory:
                    raise InputError(f"{key} entry {value!r} makes a cycle", rel, line, col)
                sub = self._walk(target, (*stack, directory))
                result.kustomizations += [k for k in sub.kustomizations if k not in result.kustomizations]
                result.files |= sub.files
                result.manifests |= sub.manifests
            elif target.is_file():
                if kind == "dir":
                    raise InputError(f"{key} entry {value!r} is a file; a directory is expected", rel, line, col)
                result.files.add(_rel(target, root))
                if key in _MANIFEST_FIELDS:
                    result.manifests.add(_rel(target, root))
            else:
                raise InputError(f"{key} entry {value!r} does not exist", rel, line, col)
        self._memo[directory] = result
        return result
