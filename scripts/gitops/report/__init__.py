"""Output formats: every format renders the same findings through one interface.

`FORMATS[name](findings, ctx)` returns the whole output as a string, so the CLI can print it
or write it to a file without knowing which format it asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..findings import Finding
from ..policy import Rule


@dataclass(frozen=True)
class ReportContext:
    """What a format needs besides the findings: rule metadata and the clusters that were checked."""

    rules: Sequence[Rule] = ()
    # Every cluster checked, so formats can report passing clusters too (JUnit has a case each).
    clusters: Sequence[str] = ()
    color: bool = False
    tool_version: str = "0.0.0"
    # Optional URL prefix for source links in Markdown, e.g. "https://github.com/org/repo/blob/<sha>".
    link_base: str = ""


Renderer = Callable[[list[Finding], ReportContext], str]

# Imported after ReportContext so the format modules can import it at run time too.
from . import github, json, junit, markdown, sarif, text  # noqa: E402

DEFAULT_FORMAT = "text"
FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "json": json.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "github": github.render,
    "markdown": markdown.render,
}
