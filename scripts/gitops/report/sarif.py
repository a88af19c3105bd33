"""SARIF 2.1.0 for GitHub code scanning: one result per rule, source line and message, the clusters in its properties;
the results a line of the change causes come first, marked (`rank` 100, `properties.causedBy`)."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from gitops.model import textsafe
from gitops.model.causes import Cause, attribute
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.rules import Rule
from gitops.model.rulechanges import RuleChanges
from gitops.report._common import Group, cluster_list, group

if TYPE_CHECKING:
    from gitops.report import ReportContext

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "gitops-validate"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "note"}


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": rule.fix},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
    }


def _logical_locations(g: Group) -> list[dict[str, Any]]:
    f = g.first
    out: list[dict[str, Any]] = [{"name": c, "kind": "cluster"} for c in g.clusters[:1]]
    if f.obj:
        qualified = "/".join(p for p in (g.clusters[0] if g.clusters else "", f.obj.kind, f.obj.namespace,
                                         f.obj.name) if p)
        out.append({"name": f.obj.name, "fullyQualifiedName": qualified, "kind": "object"})
    return out


def _physical(loc: SourceLocation) -> dict[str, Any]:
    return {"artifactLocation": {"uri": loc.path}, "region": {"startLine": loc.line, "startColumn": loc.column}}


def _location(g: Group) -> dict[str, Any] | None:
    loc: dict[str, Any] = {}
    if g.location:
        loc["physicalLocation"] = _physical(g.location)
    logical = _logical_locations(g)
    if logical:
        loc["logicalLocations"] = logical
    return loc or None


def _fingerprint(g: Group) -> str:
    """Identity that survives line moves and clusters joining or leaving the group, so code scanning
    tracks one alert across commits: rule, file, object, field and the message's cluster-free shape."""
    f = g.first
    key = "\0".join((f.rule, g.location.path if g.location else "", str(f.obj or ""), f.field_path or "", g.shape))
    return hashlib.sha256(key.encode()).hexdigest()


def _result(g: Group, rule_index: dict[str, int], total: int, cause: Cause | None = None) -> dict[str, Any]:
    f = g.first
    result: dict[str, Any] = {"ruleId": f.rule}
    if f.rule in rule_index:
        result["ruleIndex"] = rule_index[f.rule]
    result["level"] = _LEVEL[f.severity]
    text = f.message
    if len(g.clusters) > 1:
        text += f" ({cluster_list(g.clusters, total)})"
    result["message"] = {"text": text}
    location = _location(g)
    if location:
        result["locations"] = [location]
    if g.related:
        result["relatedLocations"] = [{"id": i, "physicalLocation": _physical(r.location), "message": {"text": r.note}}
                                      for i, r in enumerate(g.related)]
    result["partialFingerprints"] = {"gitopsFinding/v2": _fingerprint(g)}
    if f.waived is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.waived}]
    properties: dict[str, Any] = {k: v for k, v in (("cluster", g.clusters[0] if len(g.clusters) == 1 else None),
                                                    ("fieldPath", f.field_path)) if v}
    if g.clusters:
        properties["clusters"] = list(g.clusters)
        properties["clusterCount"] = len(g.clusters)
    properties.update(f.extra)
    if cause is not None:  # marked: the line this change made that causes it (its own line, or its other end)
        properties["causedBy"] = cause.as_dict()
        result["rank"] = 100.0
    if properties:
        result["properties"] = properties
    return result


def _invocation(rc: RuleChanges) -> dict[str, Any]:
    """The run's invocation with one configuration notification per rule change, at its line (a warning when
    it can hide findings), or one saying why the rules were not compared."""
    if not rc.base:
        notes = [{"level": "note", "message": {"text": f"rule changes not checked: {rc.note}"},
                  "descriptor": {"id": "rule-changes"}}]
    else:
        notes = []
        for c in rc.changes:
            note: dict[str, Any] = {"level": "warning" if c.loosens else "note", "descriptor": {"id": c.kind},
                                    "message": {"text": f"rule change since {rc.base}: {c.message}"}}
            if c.location is not None:
                note["locations"] = [{"physicalLocation": _physical(c.location)}]
            notes.append(note)
    return {"executionSuccessful": True, "toolConfigurationNotifications": notes}


def _caused_first(groups: list[Group], causes: list[Cause], of: dict[int, Cause]) -> list[Group]:
    """The results the change causes first, in the order of their causes (a stable sort keeps the rest's order)."""
    order = {id(c): i for i, c in enumerate(causes)}
    return sorted(groups, key=lambda g: order[id(of[id(g.first)])] if id(g.first) in of else len(order))


def render(findings: list[Finding], ctx: ReportContext) -> str:
    causes, _ = attribute(findings, ctx.change)
    of = {id(f): c for c in causes for f in c.findings}  # each caused finding's cause
    rules = list({r.id: r for r in ctx.rules}.values())
    rule_index = {r.id: i for i, r in enumerate(rules)}
    doc: dict[str, Any] = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": ctx.tool_version,
                "rules": [_rule(r) for r in rules],
            }},
            "results": [_result(g, rule_index, len(ctx.clusters), of.get(id(g.first)))
                        for g in _caused_first(group(findings, ctx.clusters), causes, of)],
        }],
    }
    if ctx.change is not None and ctx.change.known:
        doc["runs"][0]["properties"] = {"change": {"base": ctx.change.base},
                                        "causes": [c.as_dict() for c in causes]}
    if ctx.rule_changes is not None:  # first in the run: what the change does to the rules themselves
        run = doc["runs"][0]
        doc["runs"][0] = {"tool": run["tool"], "invocations": [_invocation(ctx.rule_changes)],
                          **{k: v for k, v in run.items() if k not in ("tool", "properties")},
                          "properties": {"ruleChanges": ctx.rule_changes.as_dict(), **run.get("properties", {})}}
    return textsafe.json_document(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
