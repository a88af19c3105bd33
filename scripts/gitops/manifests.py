"""Parse stage: kustomize's output into Resources that remember where they came from."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .findings import ObjectRef

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Resource:
    cluster: str
    body: dict[str, Any]  # the object as the cluster receives it (build annotations removed)
    origin: str | None = None  # repository-relative file that declared it, when kustomize knows
    generated_by: str | None = None  # kustomization file of a generator (configMapGenerator, ...)
    transformed_in: tuple[str, ...] = ()  # kustomization files whose patches/transformers changed it
    text: str | None = None  # the object's YAML as kustomize printed it (plain builds only)

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace", "") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, self.namespace, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return (self.body.get("metadata") or {}).get("labels") or {}


def _repo_path(path: str, base: Path, root: Path) -> str:
    full = Path(os.path.normpath(base / path))
    try:
        return full.relative_to(root.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


_SEPARATOR = re.compile(r"^---[ \t]*\n", re.M)  # kustomize starts every document after the first so


class Documents:
    """Parses each distinct document text once per run.

    A fleet's clusters mostly receive the same objects (one base, fifty clusters: 4,601 documents of
    a generated 50-cluster fleet are 373 distinct texts), and parsing is most of Python's share of
    validate. Resources with the same text share one body, so nothing may change a body once parsed.
    """

    def __init__(self) -> None:
        self._bodies: dict[str, Any] = {}

    def known(self, text: str, body: Any) -> None:
        """Take a body parsed earlier (cache.py's parse results) for this exact text."""
        self._bodies.setdefault(text, body)

    def parsed(self) -> dict[str, Any]:
        """{text: body} of every document parsed so far."""
        return dict(self._bodies)

    def load(self, text: str) -> Any:
        body = self._bodies.get(text)
        if body is None:
            body = self._bodies[text] = yaml.load(text, Loader=_Loader)
        return body


def parse_build(cluster: str, text: str, build_dir: Path, root: Path, documents: Documents) -> list[Resource]:
    """Split one overlay's build output; move kustomize's build annotations into Resource fields.

    A plain build's document text is kept as it is: it is already the stable, sorted YAML that
    clusters/ holds, so rendering never has to serialise the objects again.
    """
    resources = []
    for part in _SEPARATOR.split(text):
        # A document that may carry build annotations is changed below (they move out), so it gets a
        # body of its own; any other is shared.
        maybe_annotated = ORIGIN in part or TRANSFORMATIONS in part
        doc = yaml.load(part, Loader=_Loader) if maybe_annotated else documents.load(part)
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise InputError(f"kustomize produced a non-object document for cluster {cluster}")
        if not maybe_annotated:
            resources.append(Resource(cluster, doc, text=part))
            continue
        meta = doc.setdefault("metadata", {})
        annotations = meta.get("annotations") or {}
        annotated = ORIGIN in annotations or TRANSFORMATIONS in annotations
        origin = yaml.load(annotations.pop(ORIGIN, "") or "{}", Loader=_Loader) or {}
        steps = yaml.load(annotations.pop(TRANSFORMATIONS, "") or "[]", Loader=_Loader) or []
        if not annotations:
            meta.pop("annotations", None)
        res = Resource(cluster, doc, text=None if annotated else part)
        if "path" in origin:
            res.origin = _repo_path(origin["path"], build_dir, root)
        elif "configuredIn" in origin:
            res.generated_by = _repo_path(origin["configuredIn"], build_dir, root)
        res.transformed_in = tuple(dict.fromkeys(
            _repo_path(s["configuredIn"], build_dir, root) for s in steps if "configuredIn" in s))
        resources.append(res)
    return resources


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
