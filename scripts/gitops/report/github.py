"""GitHub Actions workflow commands: one annotation per source line, the change's causes first, then the most severe.

GitHub shows at most 10 error annotations per step and 50 per job, so fifty clusters' copies of one
broken line must be one annotation, the line the change made that causes them comes first (its annotation
says what it breaks), and the lines that fail the run come before warnings. The job summary (`summary`,
written by the CLI to $GITHUB_STEP_SUMMARY) lists everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitops.model import textsafe
from gitops.model.causes import Cause, attribute
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.rulechanges import RuleChanges
from gitops.report._common import Group, cluster_list, group, plural, severity_rank

if TYPE_CHECKING:
    from gitops.report import ReportContext

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "notice"}
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
OTHER_ENDS_SHOWN = 3  # an annotation names this many findings whose other end is its line, then counts


def escape_data(s: str) -> str:
    """The message part, escaped as the Actions toolkit does (`escapeData`)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A property value (`escapeProperty`): also ':' and ',', which separate properties."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


@dataclass
class _Line:
    """Everything said about one source line: the causes located there and those it is the other end of."""

    location: SourceLocation | None
    own: list[Group] = field(default_factory=list)
    other_end: list[tuple[Group, str]] = field(default_factory=list)
    cause: Cause | None = None  # the line is a line the change made that causes findings: it comes first

    def groups(self) -> list[Group]:
        return self.own + [g for g, _ in self.other_end]

    def rank(self) -> int:
        return min(severity_rank(g) for g in self.groups())

    def command(self, total: int) -> str:
        top = min(self.groups(), key=severity_rank)
        # A waived finding must not fail the check's look: it is shown as a notice that says why.
        name = _COMMAND[top.severity] if top.counts else "notice"
        rules = list(dict.fromkeys(g.rule if g.counts else f"{g.rule} (waived)" for g in self.groups()))
        title = ", ".join(rules)
        if self.cause is not None:
            title = f"this change: {plural(len(self.cause.findings), 'finding')} ({title})"
        elif not self.own:
            title += f" ({self.other_end[0][1]})"
        paragraphs = []
        for g in self.own:
            text = g.message
            where = cluster_list(g.clusters, total)
            if len(g.clusters) > 1:
                text += f"\n{where}"
            text += f"\nwaived: {g.first.waived}" if g.first.waived is not None else (
                f"\nfix: {g.first.fix}" if g.first.fix else "")
            paragraphs.append(text)
        for g, note in self.other_end[:OTHER_ENDS_SHOWN]:
            where = f" ({cluster_list(g.clusters, total)})" if len(g.clusters) > 1 else ""
            at = f" at {textsafe.name(g.location.path)}:{g.location.line}" if g.location else ""
            paragraphs.append(f"other end of {g.rule}{at}{where}: {g.message}")
        rest = self.other_end[OTHER_ENDS_SHOWN:]
        if rest:
            lines = sorted({f"{textsafe.name(g.location.path)}:{g.location.line}" for g, _ in rest if g.location})
            paragraphs.append(f"and {len(rest)} more findings whose other end is this line "
                              f"({', '.join(lines[:5])}{' ...' if len(lines) > 5 else ''}); the job summary lists all")
        count = len(self.own) + len(self.other_end)
        if self.cause is not None:
            paragraphs.insert(0, f"{self.cause.line.what()} {self.cause.effect()}:")
        elif count > 1:
            paragraphs.insert(0, f"{count} problems on this line:")
        props: list[tuple[str, str]] = []
        if self.location:
            props += [("file", textsafe.name(self.location.path)), ("line", str(self.location.line)),
                      ("col", str(self.location.column))]
        props.append(("title", textsafe.name(title)))
        return (f"::{name} " + ",".join(f"{k}={escape_property(v)}" for k, v in props)
                + f"::{escape_data(chr(10).join(paragraphs))}")


def _lines(groups: list[Group], causes: list[Cause]) -> list[_Line]:
    """One annotation per source line; the lines the change made that cause findings first (in the causes' order),
    then errors before warnings and notices."""
    by_line: dict[tuple, _Line] = {}
    for g in groups:
        loc = g.location
        key = (loc.path, loc.line) if loc else ("", id(g))
        by_line.setdefault(key, _Line(loc)).own.append(g)
    for g in groups:
        for r in g.related:
            key = (r.location.path, r.location.line)
            line = by_line.setdefault(key, _Line(r.location))
            if g not in line.own and all(g is not other for other, _ in line.other_end):
                line.other_end.append((g, r.note))
    first: dict[tuple, int] = {}
    for i, cause in enumerate(causes):
        key = (cause.line.path, cause.line.line)
        line = by_line.setdefault(key, _Line(cause.location))
        line.cause = cause
        first[key] = i
    return sorted(by_line.values(), key=lambda ln: (
        first.get((ln.location.path, ln.location.line), len(first)) if ln.location else len(first),
        ln.rank(), not ln.own, ln.location is None, ln.location or SourceLocation("", 0)))


def _rule_change_commands(rc: RuleChanges) -> list[str]:
    """One annotation per rule change, at its line: a warning when it can hide findings, else a notice."""
    if not rc.base:
        return [f"::notice title={escape_property('rule changes not checked')}::{escape_data(rc.note)}"]
    out = []
    for c in rc.changes:
        props = [("file", c.location.path), ("line", str(c.location.line))] if c.location else []
        props.append(("title", f"rule change since {rc.base}"))
        out.append(f"::{'warning' if c.loosens else 'notice'} " + ",".join(f"{k}={escape_property(v)}" for k, v in props)
                   + f"::{escape_data(c.message)}")
    return out


def render(findings: list[Finding], ctx: ReportContext) -> str:
    first = _rule_change_commands(ctx.rule_changes) if ctx.rule_changes is not None else []
    # Messages are already safe (findings.py); paths and names in properties are escaped by the last pass.
    return textsafe.log_lines(textsafe.escape("".join(line + "\n" for line in first) +
                                              "".join(line.command(len(ctx.clusters)) + "\n"
                                                      for line in _lines(group(findings, ctx.clusters),
                                                                         attribute(findings, ctx.change)[0]))),
                              commands=True)


SUMMARY_MAX_CHARS = 1_000_000  # GitHub refuses a step summary over 1 MiB


def summary(findings: list[Finding], ctx: ReportContext, max_bytes: int = SUMMARY_MAX_CHARS) -> str:
    """The job summary: every finding (grouped), since annotations beyond GitHub's limits are not shown;
    cut between lines, with a note, where it would exceed `max_bytes` (what is left of GitHub's limit on
    the summary file, which earlier steps may have written to)."""
    from gitops.report import markdown

    text = markdown.render(findings, ctx)
    if len(text.encode()) <= max_bytes:
        return text
    note = "\n_The summary is cut here (GitHub limits it to 1 MiB); the SARIF or JSON report has every finding._\n"
    kept = text.encode()[:max(0, max_bytes - len(note.encode()))].decode(errors="ignore")
    return kept[:kept.rfind("\n") + 1] + note
