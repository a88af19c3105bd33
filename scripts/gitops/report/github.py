"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request's line."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..findings import Finding, Severity, SourceLocation
from ._common import ordered

if TYPE_CHECKING:
    from . import ReportContext

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "notice"}


def escape_data(s: str) -> str:
    """The message part, escaped as the Actions toolkit does (`escapeData`)."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A property value (`escapeProperty`): also ':' and ',', which separate properties."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(f: Finding, location: SourceLocation | None = None, related: str = "") -> str:
    """One annotation; `location`/`related` put a cross-cluster finding on its other end's line too."""
    # A waived finding must not fail the check's look: it is shown as a notice that says why.
    name = _COMMAND[f.severity] if f.counts else "notice"
    location = location or f.location
    props: list[tuple[str, str]] = []
    if location:
        props += [("file", location.path), ("line", str(location.line)), ("col", str(location.column))]
    title = f.rule if f.counts else f"{f.rule} (waived)"
    props.append(("title", f"{title} ({related})" if related else title))
    message = f.message
    if f.waived is not None:
        message += f"\nwaived: {f.waived}"
    elif f.fix:
        message += f"\nfix: {f.fix}"
    return f"::{name} " + ",".join(f"{k}={escape_property(v)}" for k, v in props) + f"::{escape_data(message)}"


def render(findings: list[Finding], ctx: ReportContext) -> str:
    lines = []
    for f in ordered(findings):
        lines.append(command(f))
        lines += [command(f, r.location, r.note) for r in f.related]
    return "".join(line + "\n" for line in lines)
