"""Plain text for terminals: one line per finding, the way compilers print them, grouped per cluster."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..findings import Finding, Severity
from ._common import by_cluster, plural, summarize, summary_text, where

if TYPE_CHECKING:
    from . import ReportContext

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_INDENT = " " * 6
_SEVERITY_COLOR = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.NOTICE: "\033[36m"}


def render(findings: list[Finding], ctx: ReportContext) -> str:
    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if ctx.color else s

    lines: list[str] = []
    for cluster, items in by_cluster(findings, ctx.clusters).items():
        lines.append(paint(_BOLD, f"{cluster}:"))
        for f in items:
            severity = paint(_SEVERITY_COLOR[f.severity], f.severity.value) if f.counts else f.severity.value
            # Continuation lines of a message stay indented under their finding.
            message = f.message.replace("\n", "\n" + _INDENT)
            line = f"  {where(f)}: {severity} {f.rule}: {message}"
            lines.append(line if f.counts else paint(_DIM, f"{line} (waived: {f.waived})"))
            for r in f.related:
                lines.append(f"{_INDENT}see: {r}")
            if f.fix:
                lines.append(paint(_DIM, f"{_INDENT}fix: {f.fix}"))
    checked = f"{plural(len(ctx.clusters), 'cluster')} checked: "
    lines.append(paint(_BOLD, checked + summary_text(summarize(findings))))
    return "\n".join(lines) + "\n"
