"""A stable JSON document for scripts: version 1 keeps its keys; new keys may be added, none removed."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..findings import Finding
from ._common import ordered, summarize

if TYPE_CHECKING:
    from . import ReportContext

VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "cluster": f.cluster,
        "object": None if f.obj is None else {
            "apiVersion": f.obj.api_version, "kind": f.obj.kind,
            "namespace": f.obj.namespace, "name": f.obj.name,
        },
        "fieldPath": f.field_path,
        "fix": f.fix,
        "location": None if f.location is None else {
            "path": f.location.path, "line": f.location.line, "column": f.location.column,
        },
        "waived": f.waived,
        "related": [{"path": r.location.path, "line": r.location.line, "column": r.location.column,
                     "note": r.note} for r in f.related],
        "extra": dict(sorted(f.extra.items())),
    }


def render(findings: list[Finding], ctx: ReportContext) -> str:
    doc = {
        "version": VERSION,
        "summary": {**summarize(findings), "clusters": list(ctx.clusters)},
        "findings": [finding_dict(f) for f in ordered(findings)],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
