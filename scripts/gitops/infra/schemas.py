"""Schema stage inputs: where kubeconform finds a schema for every kind, offline.

Three sources, tried in this order: Kubernetes built-in kinds for the cluster's minor version
(from the pinned kubernetes-validate package), the locked upstream CRDs (crds.py), and the
hand-written schemas in schemas/ (GKE's net.gke.io, which has no published CRD).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from gitops.infra import cachefs, crds, yamlsrc
from gitops.model.errors import InputError, ToolError
from gitops.model.inventory import Inventory

HANDWRITTEN = "schemas"
CONVERSION = "2"  # bump when the conversion of the package's schemas changes


def _k8s_base() -> Path:
    """The pinned package's schema folder. Only its data is used, so the package is found, not imported
    (importing it loads jsonschema: ~50 ms of every run)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ToolError("the Python package kubernetes-validate is not installed (requirements.txt pins it)")
    return Path(spec.submodule_search_locations[0]) / "kubernetes-json-schema"


def check_versions(inv: Inventory) -> None:
    """Fail early, at the cluster's inventory line, for a Kubernetes version with no schemas."""
    base = _k8s_base()
    for cluster in inv.clusters:
        if not (base / f"v{cluster.kubernetes_version}.0-local-strict").is_dir():
            known = sorted((p.name.split("-")[0][1:].rsplit(".", 1)[0] for p in base.glob("v*-local-strict")),
                           key=lambda v: tuple(map(int, v.split("."))))
            raise InputError(f"cluster {cluster.name}: no Kubernetes schemas for {cluster.kubernetes_version} "
                             f"in kubernetes-validate; available: {', '.join(known)}", "inventory.yaml", cluster.line)


_REF = re.compile(r'"(?:/api/_definitions\.json)?#/\$defs/([^"]+)"')


def _self_contained(schema_text: str, definitions: dict[str, Any]) -> str:
    """One kind's schema with just the definitions it uses inlined under $defs.

    The package's schemas point into one shared 1 MB definitions file, which kubeconform parses
    again for every kind; inlining the few dozen definitions a kind needs makes the schema stage
    ~10x faster. Their $id (a kubernetes.io URL) is dropped, so nothing is looked up online.
    """
    used: set[str] = set()
    todo = _REF.findall(schema_text)
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo += _REF.findall(json.dumps(definitions[name]))
    schema = json.loads(schema_text)
    schema.pop("$id", None)
    schema["$defs"] = {name: definitions[name] for name in sorted(used)}
    return json.dumps(schema).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')


def k8s_schemas(minor: str, cache: Path) -> Path:
    """A kubeconform-readable copy of the built-in schemas of one minor version (made once, cached, verified)."""
    import importlib.metadata  # here only: a run with every schema verdict cached never needs it

    version = importlib.metadata.version("kubernetes-validate")

    def convert() -> dict[str, str]:
        source = _k8s_base() / f"v{minor}.0-local-strict"
        definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
        return {file.name: _self_contained(file.read_text(), definitions)
                for file in source.glob("*.json") if file.name not in ("all.json", "_definitions.json")}

    # Verified on every use (cachefs.sealed): a schema replaced there must not hide a schema error.
    return cachefs.sealed(cache, cache / "schemas" / f"k8s-{version}-{CONVERSION}" / f"v{minor}", convert)


def check_handwritten(root: Path) -> None:
    """schemas/ comes from pull requests and kubeconform follows a schema's $ref: only JSON files of this
    repository (no symlink out, within the size limit) whose every $ref points inside the same schema."""
    folder = root / HANDWRITTEN
    if not folder.exists():
        return
    if os.path.islink(folder):
        raise InputError(f"{HANDWRITTEN} is a symlink; it must be a folder of the repository", HANDWRITTEN)
    for dirpath, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise InputError("a symlink; schemas must be plain files of the repository", rel)
            if name in files:
                text = yamlsrc.read_checked(path, rel)
                try:
                    json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc.msg}", rel, exc.lineno, exc.colno) from None
                for number, line in enumerate(text.splitlines(), 1):
                    for ref in _ANY_REF.findall(line):
                        if not ref.startswith("#"):
                            raise InputError(f"$ref {ref!r} leaves the schema; only local references "
                                             "(\"#/...\") are allowed, nothing is fetched or read elsewhere",
                                             rel, number)


_ANY_REF = re.compile(r'"\$(?:ref|dynamicRef|recursiveRef|id)"\s*:\s*"([^"]*)"')


def locations(minor: str, root: Path, cache: Path, mirror: str | None) -> list[str]:
    """kubeconform -schema-location templates for one Kubernetes minor version."""
    check_handwritten(root)
    return [
        f"{k8s_schemas(minor, cache)}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        f"{crds.materialize(root, cache, mirror)}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        f"{root / HANDWRITTEN}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]
