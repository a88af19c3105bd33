"""Markdown for a pull-request comment or a job summary: a summary line and one table per set of clusters."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from gitops.model import textsafe
from gitops.model.findings import Finding, Severity
from gitops.model.rulechanges import RuleChanges
from gitops.report._common import Group, by_clusters, group, obj_text, plural, summarize, summary_text

if TYPE_CHECKING:
    from gitops.report import ReportContext

_ICON = {Severity.ERROR: ":x:", Severity.WARNING: ":warning:", Severity.NOTICE: ":information_source:"}
_HEADER = "| Severity | Rule | Object | Location | Message |\n| --- | --- | --- | --- | --- |"


def cell(s: str) -> str:
    """Table-cell text: no raw HTML, no column breaks, no line breaks, no Markdown emphasis or links, nothing
    invisible (textsafe.escape)."""
    s = textsafe.escape(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\|*_`[]":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\r\n", "\n").replace("\n", "<br>")


def code(s: str) -> str:
    """Inline code that survives a table cell: fenced by a longer backtick run than it holds, pipes escaped,
    on one line with nothing invisible."""
    s = textsafe.escape(s, newlines=False)
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    body = s.replace("|", "\\|")  # GitHub splits table cells on | even inside code
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _location(g: Group, link_base: str) -> str:
    loc = g.location
    if loc is None:
        return "—"
    text = code(f"{loc.path}:{loc.line}")
    if not link_base:
        return text
    return f"[{text}]({link_base.rstrip('/')}/{quote(loc.path)}#L{loc.line})"


def _row(g: Group, link_base: str) -> str:
    f = g.first
    severity = f"{_ICON[f.severity]} {f.severity.value}" if f.counts else f"{f.severity.value} (waived)"
    message = cell(f.message) + "".join(f"<br>see {code(f'{r.location.path}:{r.location.line}')} ({cell(r.note)})"
                                        for r in g.related)
    if f.waived is not None:
        message += f"<br>waived: {cell(f.waived)}"
    elif f.fix:
        message += f"<br>fix: {cell(f.fix)}"
    obj = cell(obj_text(f.obj)) if f.obj else "—"
    return f"| {severity} | {code(f.rule)} | {obj} | {_location(g, link_base)} | {message} |"


def rule_changes(rc: RuleChanges) -> str:
    """The rule changes as a short section (the validate report and the diff comment put it first)."""
    if not rc.base:
        return f"_Rule changes not checked: {cell(rc.note)}_"
    if not rc.changes:
        return f"_No rule changes since {code(rc.base)}._"
    items = "\n".join(f"- {':warning:' if c.loosens else ':information_source:'} "
                      + (f"{code(f'{c.location.path}:{c.location.line}')}: " if c.location else "") + cell(c.message)
                      for c in rc.changes)
    return f"#### Rule changes since {code(rc.base)}\n\n{items}"


def render(findings: list[Finding], ctx: ReportContext) -> str:
    groups = group(findings, ctx.clusters)
    title = summary_text(summarize(findings))
    if len(groups) < len(findings):
        title += f" ({plural(len(groups), 'cause')})"
    parts = [f"### GitOps validation: {title}"]
    if ctx.rule_changes is not None:
        parts.append(rule_changes(ctx.rule_changes))
    sections = by_clusters(groups, ctx.clusters)
    seen = {c for g in groups for c in g.clusters}
    clean = [c for c in ctx.clusters if c not in seen]
    for heading, items in sections.items():
        rows = "\n".join(_row(g, ctx.link_base) for g in items)
        parts.append(f"#### {cell(heading)}\n\n{_HEADER}\n{rows}")
    if clean:
        parts.append("No findings in: " + ", ".join(code(c) for c in clean))
    return textsafe.log_lines("\n\n".join(parts) + "\n")
