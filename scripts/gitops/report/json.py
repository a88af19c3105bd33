"""A stable JSON document for scripts: version 1 keeps its keys; new keys may be added, none removed.

`findings` has every finding, one per cluster; `groups` has one entry per rule, source line and message (see
report._common.group); `causes` the lines of the change that cause findings (model/causes.py).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gitops.model import textsafe
from gitops.model.causes import attribute
from gitops.model.findings import Finding, finding_dict
from gitops.report._common import Group, group, ordered, summarize

if TYPE_CHECKING:
    from gitops.report import ReportContext

VERSION = 1


def group_dict(g: Group) -> dict[str, Any]:
    """One group: the first finding's fields, the clusters it affects and the other ends, one per line."""
    first = finding_dict(g.first)
    return {**{k: first[k] for k in ("rule", "severity", "message", "object", "fieldPath", "fix", "location", "waived")},
            "clusters": list(g.clusters), "findings": len(g.findings),
            "related": [{"path": r.location.path, "line": r.location.line, "column": r.location.column,
                         "note": r.note} for r in g.related]}


def render(findings: list[Finding], ctx: ReportContext) -> str:
    change = ctx.change
    doc: dict[str, Any] = {
        "version": VERSION,
        "ruleChanges": ctx.rule_changes.as_dict() if ctx.rule_changes is not None else None,
        "summary": {**summarize(findings), "clusters": list(ctx.clusters)},
        "findings": [finding_dict(f) for f in ordered(findings)],
        "groups": [group_dict(g) for g in group(findings, ctx.clusters)],
    }
    if change is not None:  # the lines of the change that cause findings (model/causes.py), most severe first
        doc["change"] = {"base": change.base or None, "note": change.note or None}
        doc["causes"] = [c.as_dict() for c in attribute(findings, change)[0]]
    return textsafe.json_document(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
