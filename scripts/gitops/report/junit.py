"""JUnit XML for CI test dashboards: one test case per rule and cluster, passing ones included."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ..findings import Finding, Severity
from ._common import FLEET, by_cluster, where

if TYPE_CHECKING:
    from . import ReportContext

SUITES_NAME = "gitops-validate"
# Characters XML 1.0 cannot carry at all, even escaped (ElementTree would write them as-is).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(s: str) -> str:
    return _NOT_XML.sub("\ufffd", s)


def _line(f: Finding) -> str:
    text = f"{where(f)}: {f.severity.value} {f.rule}: {f.message}"
    text += "".join(f"\n  see: {r}" for r in f.related)
    return text + (f" (waived: {f.waived})" if f.waived is not None else "")


def _case(suite: ET.Element, cluster: str, rule: str, found: list[Finding]) -> bool:
    """Add one test case; True when it fails (it has error findings that count)."""
    case = ET.SubElement(suite, "testcase", classname=cluster, name=rule)
    errors: list[Finding] = []
    others: list[Finding] = []
    for f in found:
        (errors if f.counts and f.severity is Severity.ERROR else others).append(f)
    if errors:
        summary = f"{len(errors)} error{'s' if len(errors) > 1 else ''}: {errors[0].message}"
        failure = ET.SubElement(case, "failure", type="error", message=_clean(summary))
        failure.text = _clean("\n".join(_line(f) + (f"\n  fix: {f.fix}" if f.fix else "") for f in errors))
    if others:
        ET.SubElement(case, "system-out").text = _clean("\n".join(_line(f) for f in others))
    return bool(errors)


def render(findings: list[Finding], ctx: ReportContext) -> str:
    groups = by_cluster(findings, ctx.clusters)
    clusters = list(dict.fromkeys([*ctx.clusters, *groups]))
    rule_ids = list(dict.fromkeys(r.id for r in ctx.rules))
    root = ET.Element("testsuites", name=SUITES_NAME)
    total = failed = 0
    for cluster in clusters:
        found = groups.get(cluster, [])
        per_rule: dict[str, list[Finding]] = {}
        for f in found:
            per_rule.setdefault(f.rule, []).append(f)
        # Fleet-wide findings have no cluster to repeat every rule for: only their own rules.
        rules = list(per_rule) if cluster == FLEET else list(dict.fromkeys([*rule_ids, *per_rule]))
        suite = ET.SubElement(root, "testsuite", name=cluster)
        failures = sum(_case(suite, cluster, rule, per_rule.get(rule, [])) for rule in rules)
        suite.set("tests", str(len(rules)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total, failed = total + len(rules), failed + failures
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
