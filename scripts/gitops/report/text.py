"""Plain text for terminals: the causes in the change first, then one line per finding, the way compilers print
them, under the clusters it affects."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gitops.model import textsafe
from gitops.model.causes import Cause, attribute, heading
from gitops.model.findings import Finding, Severity
from gitops.report._common import (Group, beside, by_clusters, cause_fixes, cluster_list, group, in_cluster_order, plural,
                                   related_text, summarize, summary_text)

if TYPE_CHECKING:
    from gitops.report import ReportContext

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_INDENT = " " * 6
_SEVERITY_COLOR = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.NOTICE: "\033[36m"}
Paint = Callable[[str, str], str]


def _finding_line(g: Group, paint: Paint, prefix: str = "") -> str:
    f = g.first
    severity = paint(_SEVERITY_COLOR[f.severity], f.severity.value) if f.counts else f.severity.value
    # Continuation lines of a message stay indented under their finding.
    message = f.message.replace("\n", "\n" + _INDENT)
    line = f"  {prefix}{g.where()}: {severity} {textsafe.name(f.rule)}: {message}"
    return line if f.counts else paint(_DIM, f"{line} (waived: {f.waived})")


def _cause_lines(cause: Cause, clusters: list[str], paint: Paint) -> list[str]:
    """The cause's sentence, then each finding it causes (its cluster first), then each rule's fix once."""
    lines = [paint(_BOLD, f"{textsafe.name(str(cause.location))}: {cause.line.what()} {cause.effect()}")]
    for g in in_cluster_order(group(cause.findings, clusters), clusters):
        who = cluster_list(g.clusters, len(clusters)) or "fleet"
        lines.append(_finding_line(g, paint, f"{textsafe.name(who)} "))
        lines += [f"{_INDENT}see: {related_text(r)}" for r in beside(g, cause)]
    lines += [paint(_DIM, f"  fix ({textsafe.name(rule)}): {fix}") for rule, fix in cause_fixes(cause).items()]
    return lines


def render(findings: list[Finding], ctx: ReportContext) -> str:
    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if ctx.color and code else s

    lines: list[str] = []
    if ctx.rule_changes is not None:  # first: a rule switched off changes the verdict as much as any finding
        lines.append(paint(_BOLD, ctx.rule_changes.heading()))
        lines += [paint(_SEVERITY_COLOR[Severity.WARNING] if c.loosens else "", f"  {c.line()}")
                  for c in ctx.rule_changes.changes]
    causes, rest = attribute(findings, ctx.change)
    if ctx.change is not None and ctx.change.known and any(f.counts for f in findings):
        lines.append(paint(_BOLD, heading(ctx.change, causes, sum(f.counts for f in findings))))
    clusters = list(ctx.clusters)
    for cause in causes:
        lines += _cause_lines(cause, clusters, paint)
    groups = group(rest, ctx.clusters)
    if causes and groups:
        lines.append(paint(_BOLD, "other findings:"))
    for title, items in by_clusters(groups, ctx.clusters).items():
        lines.append(paint(_BOLD, f"{textsafe.name(title)}:"))
        for g in items:
            lines.append(_finding_line(g, paint))
            for r in g.related:
                lines.append(f"{_INDENT}see: {related_text(r)}")
            if g.first.fix:
                lines.append(paint(_DIM, f"{_INDENT}fix: {g.first.fix}"))
    checked = f"{plural(len(ctx.clusters), 'cluster')} checked: "
    total = len(group(findings, ctx.clusters))
    entries = f" ({total} {'entry' if total == 1 else 'entries'})" if total < len(findings) else ""
    lines.append(paint(_BOLD, checked + summary_text(summarize(findings)) + entries))
    # Every piece above is escaped (findings.py, _common); CI logs also read workflow commands from text.
    return textsafe.log_lines("\n".join(lines) + "\n")
