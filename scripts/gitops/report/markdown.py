"""Markdown for a pull-request comment: a summary line and one table per cluster."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..findings import Finding, Severity
from ._common import by_cluster, summarize, summary_text

if TYPE_CHECKING:
    from . import ReportContext

_ICON = {Severity.ERROR: ":x:", Severity.WARNING: ":warning:", Severity.NOTICE: ":information_source:"}
_HEADER = "| Severity | Rule | Object | Location | Message |\n| --- | --- | --- | --- | --- |"


def cell(s: str) -> str:
    """Table-cell text: no raw HTML, no column breaks, no line breaks."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return s.replace("\r\n", "\n").replace("\n", "<br>")


def _location(f: Finding, link_base: str) -> str:
    if f.location is None:
        return "—"
    text = f"`{f.location.path}:{f.location.line}`"
    if not link_base:
        return text
    return f"[{text}]({link_base.rstrip('/')}/{f.location.path}#L{f.location.line})"


def _row(f: Finding, link_base: str) -> str:
    severity = f"{_ICON[f.severity]} {f.severity.value}" if f.counts else f"{f.severity.value} (waived)"
    message = cell(f.message) + "".join(f"<br>see `{r.location.path}:{r.location.line}` ({cell(r.note)})"
                                        for r in f.related)
    message += f"<br>_waived: {cell(f.waived)}_" if f.waived is not None else ""
    obj = cell(str(f.obj)) if f.obj else "—"
    return f"| {severity} | `{f.rule}` | {obj} | {_location(f, link_base)} | {message} |"


def render(findings: list[Finding], ctx: ReportContext) -> str:
    parts = [f"### GitOps validation: {summary_text(summarize(findings))}"]
    groups = by_cluster(findings, ctx.clusters)
    clean = [c for c in ctx.clusters if c not in groups]
    for cluster, items in groups.items():
        rows = "\n".join(_row(f, ctx.link_base) for f in items)
        parts.append(f"#### {cell(cluster)}\n\n{_HEADER}\n{rows}")
    if clean:
        parts.append("No findings in: " + ", ".join(f"`{c}`" for c in clean))
    return "\n\n".join(parts) + "\n"
