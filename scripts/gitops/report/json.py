"""A stable JSON document for scripts: version 1 keeps its keys; new keys may be added, none removed.

`findings` has every finding, one per cluster; `groups` has one entry per cause (see report._common.group).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gitops.model import textsafe
from gitops.model.findings import Finding, finding_dict
from gitops.report._common import Group, group, ordered, summarize

if TYPE_CHECKING:
    from gitops.report import ReportContext

VERSION = 1


def group_dict(g: Group) -> dict[str, Any]:
    """One cause: the first finding's fields, the clusters it affects and the other ends, one per line."""
    first = finding_dict(g.first)
    return {**{k: first[k] for k in ("rule", "severity", "message", "object", "fieldPath", "fix", "location", "waived")},
            "clusters": list(g.clusters), "findings": len(g.findings),
            "related": [{"path": r.location.path, "line": r.location.line, "column": r.location.column,
                         "note": r.note} for r in g.related]}


def render(findings: list[Finding], ctx: ReportContext) -> str:
    doc = {
        "version": VERSION,
        "ruleChanges": ctx.rule_changes.as_dict() if ctx.rule_changes is not None else None,
        "summary": {**summarize(findings), "clusters": list(ctx.clusters)},
        "findings": [finding_dict(f) for f in ordered(findings)],
        "groups": [group_dict(g) for g in group(findings, ctx.clusters)],
    }
    return textsafe.json_document(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
