"""SARIF 2.1.0 for GitHub code scanning: results point at the repository-relative source line."""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from ..findings import Finding, Severity
from ..policy import Rule
from ._common import ordered

if TYPE_CHECKING:
    from . import ReportContext

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


def _logical_locations(f: Finding) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if f.cluster:
        out.append({"name": f.cluster, "kind": "cluster"})
    if f.obj:
        qualified = "/".join(p for p in (f.cluster, f.obj.kind, f.obj.namespace, f.obj.name) if p)
        out.append({"name": f.obj.name, "fullyQualifiedName": qualified, "kind": "object"})
    return out


def _location(f: Finding) -> dict[str, Any] | None:
    loc: dict[str, Any] = {}
    if f.location:
        loc["physicalLocation"] = {
            "artifactLocation": {"uri": f.location.path},
            "region": {"startLine": f.location.line, "startColumn": f.location.column},
        }
    logical = _logical_locations(f)
    if logical:
        loc["logicalLocations"] = logical
    return loc or None


def _fingerprint(f: Finding) -> str:
    """Identity that survives line moves, so code scanning tracks one alert across commits."""
    key = "\0".join((f.rule, f.cluster or "", str(f.obj or ""), f.field_path or "", f.message))
    return hashlib.sha256(key.encode()).hexdigest()


def _result(f: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": f.rule}
    if f.rule in rule_index:
        result["ruleIndex"] = rule_index[f.rule]
    result["level"] = _LEVEL[f.severity]
    result["message"] = {"text": f.message}
    location = _location(f)
    if location:
        result["locations"] = [location]
    if f.related:
        result["relatedLocations"] = [{
            "id": i,
            "physicalLocation": {"artifactLocation": {"uri": r.location.path},
                                 "region": {"startLine": r.location.line, "startColumn": r.location.column}},
            "message": {"text": r.note},
        } for i, r in enumerate(f.related)]
    result["partialFingerprints"] = {"gitopsFinding/v1": _fingerprint(f)}
    if f.waived is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.waived}]
    properties = {k: v for k, v in (("cluster", f.cluster), ("fieldPath", f.field_path)) if v}
    properties.update(f.extra)
    if properties:
        result["properties"] = properties
    return result


def render(findings: list[Finding], ctx: ReportContext) -> str:
    rules = list({r.id: r for r in ctx.rules}.values())
    rule_index = {r.id: i for i, r in enumerate(rules)}
    doc = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": ctx.tool_version,
                "rules": [_rule(r) for r in rules],
            }},
            "results": [_result(f, rule_index) for f in ordered(findings)],
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
