"""Markdown for a pull-request comment or a job summary: a summary line, the causes in the change (their findings
folded), then one table per set of clusters."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from typing import Sequence

from gitops.model import textsafe
from gitops.model.causes import Cause, Change, attribute
from gitops.model.findings import Finding, Severity
from gitops.model.rulechanges import RuleChanges
from gitops.report._common import (Group, beside, by_clusters, cause_fixes, cluster_list, group, in_cluster_order, obj_text,
                                   plural, summarize, summary_text)

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


FOLDED_ROWS = 10  # beside the causes, a longer list of other findings is folded into <details>


def details(summary: str, body: str) -> str:
    """A folded section: `summary` is HTML-safe already (escape with cell(), quote with html_code())."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def html_code(s: str) -> str:
    """Inline code inside HTML (a <summary>), where Markdown's backticks do not render."""
    return f"<code>{cell(s)}</code>"


def cause_item(cause: Cause, icon: bool = True) -> str:
    """"- :x: `base/orders/service.yaml:13` — port 8080 → 9090 breaks 67 calls ..., in 26 clusters"."""
    mark = f"{_ICON[cause.severity]} " if icon else ""
    return (f"- {mark}{code(f'{cause.line.path}:{cause.line.line}')} — {cause.line.what(code, cell)} "
            f"{cell(cause.effect())}")


def cause_rows(cause: Cause, clusters: Sequence[str], link_base: str = "") -> str:
    """The findings a cause causes: one table row per group (its clusters first), each rule's fix once below."""
    rows = []
    for g in in_cluster_order(group(cause.findings, clusters), clusters):
        f = g.first
        message = cell(f.message) + "".join(f"<br>see {code(f'{r.location.path}:{r.location.line}')} ({cell(r.note)})"
                                            for r in beside(g, cause))
        who = cell(cluster_list(g.clusters, len(clusters)) or "fleet")
        rows.append(f"| {who} | {_ICON[f.severity]} {f.severity.value} | {code(f.rule)} | "
                    f"{cell(obj_text(f.obj)) if f.obj else '—'} | {_location(g, link_base)} | {message} |")
    fixes = "\n".join(f"- {code(rule)}: {cell(fix)}" for rule, fix in cause_fixes(cause).items())
    table = "| Cluster | Severity | Rule | Object | Location | Message |\n| --- | --- | --- | --- | --- | --- |\n"
    return table + "\n".join(rows) + (f"\n\n**How to fix**\n\n{fixes}" if fixes else "")


CAUSES_SHOWN = 5  # causes listed under a report's title; the rest are counted (the folded findings have them all)


def cause_list(causes: list[Cause]) -> list[str]:
    """The causes as list items under a title (at most CAUSES_SHOWN, then how many more): the changed line is named
    within the first five lines of a comment or job summary."""
    items = [cause_item(c) for c in causes[:CAUSES_SHOWN]]
    if len(causes) > CAUSES_SHOWN:
        items.append(f"- and {plural(len(causes) - CAUSES_SHOWN, 'more changed line')}: see the findings below")
    return items


def causes_section(causes: list[Cause], change: Change, counting: int, clusters: Sequence[str],
                   link_base: str = "") -> str:
    """The findings of each cause in the change, folded (the causes themselves are listed under the title)."""
    head = f"#### Findings by cause in this change (since {code(change.base)})"
    if not causes:
        return f"{head}\n\nNo finding is on, or points at, a line this change made."
    items = [details(f"{plural(len(c.findings), 'finding')} caused by {html_code(f'{c.line.path}:{c.line.line}')} "
                     f"({cell(c.line.what())})", cause_rows(c, clusters, link_base)) for c in causes]
    explained = sum(len(c.findings) for c in causes)
    note = "" if explained == counting else f"\n\n{counting - explained} other findings are below."
    return f"{head}\n\n" + "\n\n".join(items) + note


def render(findings: list[Finding], ctx: ReportContext) -> str:
    groups = group(findings, ctx.clusters)
    title = summary_text(summarize(findings))
    if len(groups) < len(findings):
        title += f" ({len(groups)} {'entry' if len(groups) == 1 else 'entries'})"
    causes, rest = attribute(findings, ctx.change)
    counting = sum(f.counts for f in findings)
    parts = ["\n".join([f"### GitOps validation: {title}", *cause_list(causes)])]  # the causes first, under the title
    if ctx.rule_changes is not None:
        parts.append(rule_changes(ctx.rule_changes))
    if ctx.change is not None and ctx.change.known and counting:
        parts.append(causes_section(causes, ctx.change, counting, ctx.clusters, ctx.link_base))
    rest_groups = group(rest, ctx.clusters) if causes else groups
    sections = by_clusters(rest_groups, ctx.clusters)
    seen = {c for g in groups for c in g.clusters}
    clean = [c for c in ctx.clusters if c not in seen]
    tables = [f"#### {cell(heading)}\n\n{_HEADER}\n" + "\n".join(_row(g, ctx.link_base) for g in items)
              for heading, items in sections.items()]
    if causes and len(rest_groups) > FOLDED_ROWS:
        parts.append(details(f"{plural(len(rest_groups), 'other finding')}", "\n\n".join(tables)))
    else:
        if causes and tables:
            parts.append("#### Other findings")
        parts += tables
    if clean:
        parts.append("No findings in: " + ", ".join(code(c) for c in clean))
    return textsafe.log_lines("\n\n".join(parts) + "\n")
