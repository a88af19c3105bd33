"""Plain text for terminals: one line per cause, the way compilers print them, under the clusters it affects."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gitops.model import textsafe
from gitops.model.findings import Finding, Severity
from gitops.report._common import by_clusters, group, plural, related_text, summarize, summary_text

if TYPE_CHECKING:
    from gitops.report import ReportContext

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_INDENT = " " * 6
_SEVERITY_COLOR = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.NOTICE: "\033[36m"}


def render(findings: list[Finding], ctx: ReportContext) -> str:
    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if ctx.color and code else s

    lines: list[str] = []
    if ctx.rule_changes is not None:  # first: a rule switched off changes the verdict as much as any finding
        lines.append(paint(_BOLD, ctx.rule_changes.heading()))
        lines += [paint(_SEVERITY_COLOR[Severity.WARNING] if c.loosens else "", f"  {c.line()}")
                  for c in ctx.rule_changes.changes]
    groups = group(findings, ctx.clusters)
    for heading, items in by_clusters(groups, ctx.clusters).items():
        lines.append(paint(_BOLD, f"{textsafe.name(heading)}:"))
        for g in items:
            f = g.first
            severity = paint(_SEVERITY_COLOR[f.severity], f.severity.value) if f.counts else f.severity.value
            # Continuation lines of a message stay indented under their finding.
            message = f.message.replace("\n", "\n" + _INDENT)
            line = f"  {g.where()}: {severity} {textsafe.name(f.rule)}: {message}"
            lines.append(line if f.counts else paint(_DIM, f"{line} (waived: {f.waived})"))
            for r in g.related:
                lines.append(f"{_INDENT}see: {related_text(r)}")
            if f.fix:
                lines.append(paint(_DIM, f"{_INDENT}fix: {f.fix}"))
    checked = f"{plural(len(ctx.clusters), 'cluster')} checked: "
    causes = f" ({plural(len(groups), 'cause')})" if len(groups) < len(findings) else ""
    lines.append(paint(_BOLD, checked + summary_text(summarize(findings)) + causes))
    # Every piece above is escaped (findings.py, _common); CI logs also read workflow commands from text.
    return textsafe.log_lines("\n".join(lines) + "\n")
