"""JUnit XML for CI test dashboards: one test suite per rule, one test case per source location.

A rule with no findings is one passing case, so dashboards show what was checked. A case names the
clusters it covers ("in 47 of 50 clusters: ..."), and carries `file` and `line` attributes, which
GitLab, Jenkins and the common JUnit reporters turn into links.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from gitops.model import textsafe
from gitops.model.findings import Finding, Severity
from gitops.model.rulechanges import RuleChanges
from gitops.report._common import Group, cluster_list, group, plural, related_text

if TYPE_CHECKING:
    from gitops.report import ReportContext

SUITES_NAME = "gitops-validate"
RULE_CHANGES_SUITE = "rule-changes"
PASSING_CASE = "all clusters"
# Characters XML 1.0 cannot carry at all, even escaped (ElementTree would write them as-is).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(s: str) -> str:
    return _NOT_XML.sub("\ufffd", textsafe.escape(s))


def _fails(g: Group) -> bool:
    return g.counts and g.severity is Severity.ERROR


def _text(g: Group, total: int) -> str:
    f = g.first
    text = f"{g.where()}: {f.severity.value} {f.rule}: {f.message}"
    if len(g.clusters) > 1:
        text += f"\n  {cluster_list(g.clusters, total)}"
    text += "".join(f"\n  see: {related_text(r)}" for r in g.related)
    if f.waived is not None:
        return text + f" (waived: {f.waived})"
    return text + (f"\n  fix: {f.fix}" if f.fix and _fails(g) else "")


def _case(suite: ET.Element, rule: str, name: str, groups: list[Group], total: int) -> bool:
    """Add one test case; True when it fails (it has error findings that count)."""
    case = ET.SubElement(suite, "testcase", classname=rule, name=_clean(name))
    loc = groups[0].location if groups else None
    if loc is not None:
        case.set("file", _clean(loc.path))
        case.set("line", str(loc.line))
    errors = [g for g in groups if _fails(g)]
    others = [g for g in groups if not _fails(g)]
    if errors:
        count = sum(len(g.findings) for g in errors)
        summary = f"{plural(count, 'error')}: {errors[0].message}"
        failure = ET.SubElement(case, "failure", type="error", message=_clean(summary))
        failure.text = _clean("\n".join(_text(g, total) for g in errors))
    if others:
        ET.SubElement(case, "system-out").text = _clean("\n".join(_text(g, total) for g in others))
    return bool(errors)


def _rule_changes(root: ET.Element, rc: RuleChanges) -> int:
    """A first suite, `rule-changes`: one passing case per change at its line (skipped, with the reason,
    when there was no base to compare with); returns its number of cases."""
    suite = ET.SubElement(root, "testsuite", name=RULE_CHANGES_SUITE)
    if not rc.base:
        case = ET.SubElement(suite, "testcase", classname=RULE_CHANGES_SUITE, name="not checked")
        ET.SubElement(case, "skipped", message=_clean(rc.note))
    for c in rc.changes:
        case = ET.SubElement(suite, "testcase", classname=RULE_CHANGES_SUITE, name=_clean(c.line()))
        if c.location is not None:
            case.set("file", _clean(c.location.path))
            case.set("line", str(c.location.line))
        ET.SubElement(case, "system-out").text = _clean(f"since {rc.base}: {c.message}")
    cases = len(suite)
    for key, value in (("tests", cases), ("failures", 0), ("errors", 0), ("skipped", 0 if rc.base else 1)):
        suite.set(key, str(value))
    return cases


def render(findings: list[Finding], ctx: ReportContext) -> str:
    total = len(ctx.clusters)
    per_rule: dict[str, dict[str, list[Group]]] = {}
    for g in group(findings, ctx.clusters):
        name = g.where()
        per_rule.setdefault(g.rule, {}).setdefault(name, []).append(g)
    rule_ids = list(dict.fromkeys([*(r.id for r in ctx.rules), *per_rule]))
    root = ET.Element("testsuites", name=SUITES_NAME)
    tests = _rule_changes(root, ctx.rule_changes) if ctx.rule_changes is not None else 0
    failed = 0
    for rule in rule_ids:
        cases = per_rule.get(rule, {PASSING_CASE: []})
        suite = ET.SubElement(root, "testsuite", name=rule)
        failures = sum(_case(suite, rule, name, groups, total) for name, groups in cases.items())
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        tests, failed = tests + len(cases), failed + failures
    root.set("tests", str(tests))
    root.set("failures", str(failed))
    root.set("errors", "0")
    ET.indent(root)
    return textsafe.log_lines('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
