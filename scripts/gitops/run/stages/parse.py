"""Parse stage: kustomize's output into Resources that remember where they came from."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from gitops.model.errors import InputError
from gitops.model.resources import Resource

ORIGIN = "config.kubernetes.io/origin"
TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
