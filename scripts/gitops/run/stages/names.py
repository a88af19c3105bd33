"""Object-name stage: a finding, at its source line, for every name Kubernetes (and clusters/) cannot take."""
from __future__ import annotations

from gitops.model import names
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.resources import Resource
from gitops.model.rules import Rule
from gitops.run.sourcemap import SourceMap

NAME = Rule("object-name", Severity.ERROR,
            "Object names and namespaces are valid Kubernetes names (DNS-1123, per kind) that fit a file name.",
            "The API server rejects an invalid name, so the sync fails; and a name is part of the file path in "
            "clusters/, so '../x' or a 300-character name must never reach the file system.",
            "Use lowercase letters, digits and '-' (and '.' where the kind allows it): at most 63 characters for "
            "namespaces and Services, 253 for most other kinds.")


def _line_has(sources: SourceMap, location: SourceLocation | None, word: str) -> bool:
    if location is None:
        return False
    try:
        lines = (sources.root / location.path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    return 0 < location.line <= len(lines) and word in lines[location.line - 1]


def findings(resources: dict[str, list[Resource]], sources: SourceMap) -> list[Finding]:
    """An `object-name` finding, at its source line, for every name that Kubernetes (and clusters/) cannot take."""
    out = []
    for items in resources.values():
        for res in items:
            for path, problem in names.problems(res):
                location = sources.locate(res, path)
                if path == ("metadata", "namespace") and not _line_has(sources, location, "namespace"):
                    location = sources.kustomization_field(res, "namespace") or location  # a namespace transformer
                out.append(Finding(NAME.id, NAME.severity, f"{res.ref} in cluster {res.cluster}: {problem}",
                                   res.cluster, res.ref, ".".join(path), NAME.fix, location))
    return out
