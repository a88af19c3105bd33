"""Output formats: every format renders the same findings through one interface.

`FORMATS[name](findings, ctx)` returns the whole output as a string, so the CLI can print it
or write it to a file without knowing which format it asked for.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from gitops.model.findings import Finding
from gitops.model.rules import Rule
from gitops.model.causes import Change
from gitops.model.rulechanges import RuleChanges


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
    # What the change does to the rules (config, waivers, policy code, lock, schemas), shown first; None: not compared.
    rule_changes: RuleChanges | None = None
    # The lines the change made since the same base: the causes every human-facing format leads with; None: unknown.
    change: Change | None = None


Renderer = Callable[[list[Finding], ReportContext], str]


class _Formats(Mapping[str, Renderer]):
    """{name: render function}; a format's module is imported when it is first asked for, so a run pays
    only for the formats it writes (JUnit's XML library, say, is not loaded for a text report)."""

    _MODULES = ("text", "json", "sarif", "junit", "github", "markdown")

    def __getitem__(self, name: str) -> Renderer:
        if name not in self._MODULES:
            raise KeyError(name)
        return importlib.import_module(f"{__name__}.{name}").render  # type: ignore[no-any-return,unused-ignore]

    def __contains__(self, name: object) -> bool:
        return name in self._MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(self._MODULES)

    def __len__(self) -> int:
        return len(self._MODULES)


DEFAULT_FORMAT = "text"
FORMATS: Mapping[str, Renderer] = _Formats()
