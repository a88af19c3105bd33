"""Causes: the lines a change made that findings are on or point at, so every report can lead with them.

One changed line (a base Service's port) can break calls in fifty clusters: each caller's finding sits at its
own unchanged line and names the Service's port as its other end (a related location). Grouping findings by
the first changed line among their location and their related locations turns sixty-eight findings into one
sentence: "`base/orders/service.yaml:13` — port 8080 → 9090 breaks 67 calls and causes 1 route-backend-exists
error, in 46 clusters". `run/change.py` reads the changed lines (git diff of the base and the working tree);
this module is plain data and the attribution, which every format renders.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from gitops.model import textsafe
from gitops.model.calls import CALL_RULES
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.textsafe import plural

_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}
# "key: value" (a YAML mapping entry, also in a list: "- name: value") or "key=value" (a literal, an env file)
_ENTRY = re.compile(r"^\s*(?:-\s+)?(?P<key>[\w.\-/\"']{1,100}?)\s*(?::\s|=|:$)\s*(?P<value>.*?)\s*$")
SHOWN_VALUE = 60  # characters of a changed value shown in a cause's sentence


@dataclass(frozen=True)
class ChangedLine:
    """A line of the working tree that differs from the base: `was` is the base's line it replaced, when the change
    replaced exactly as many lines as it wrote; None for a line added (`new_file`: the whole file is new)."""

    path: str
    line: int
    now: str
    was: str | None = None
    new_file: bool = False

    def what(self, code: Callable[[str], str] = lambda s: f"`{s}`", plain: Callable[[str], str] = str) -> str:
        """What the line's change is, shown safely: "port 8080 → 9090", "`image: a:1` → `image: a:2`", "added
        `port: 80`", "new file". A value under a key that names a secret is never shown. `code` and `plain` render
        the quoted and the plain pieces (a format's inline code and escaping)."""
        if self.new_file:
            return "new file"
        now = _entry(self.now)
        if self.was is None:
            return f"added {code(_quoted(self.now, now))}"
        was = _entry(self.was)
        if was and now and was[0] == now[0]:
            key = textsafe.one_line(now[0])
            if textsafe.secret_name(now[0]):
                return f"{plain(key)} changed (a secret's value, not shown)"
            return f"{plain(key)} {plain(_value(was[1]))} → {plain(_value(now[1]))}"
        return f"{code(_quoted(self.was, was))} → {code(_quoted(self.now, now))}"


def _entry(line: str) -> tuple[str, str] | None:
    m = _ENTRY.match(line)
    return (m["key"].strip("\"'"), m["value"]) if m else None


def _value(value: str) -> str:
    return textsafe.one_line(textsafe.excerpt(value.strip(), SHOWN_VALUE)) or "(empty)"


def _quoted(line: str, entry: tuple[str, str] | None) -> str:
    if entry and textsafe.secret_name(entry[0]):
        return f"{textsafe.one_line(entry[0])}: ***"
    return textsafe.one_line(textsafe.excerpt(line.strip(), SHOWN_VALUE * 2))


@dataclass(frozen=True)
class Change:
    """The lines the working tree changed since `base` ("merge-base(HEAD, main) (0123456789ab)"), and the files it
    adds that git does not track yet (every line of them is new); without a base, `note` says why there is none,
    and no finding has a cause."""

    base: str = ""
    note: str = ""
    lines: Mapping[str, Mapping[int, ChangedLine]] = field(default_factory=dict)
    new_files: frozenset[str] = frozenset()

    def at(self, location: SourceLocation) -> ChangedLine | None:
        if location.path in self.new_files:
            return ChangedLine(location.path, location.line, "", new_file=True)
        return self.lines.get(location.path, {}).get(location.line)

    @property
    def known(self) -> bool:
        """Whether there is a base to find causes against."""
        return bool(self.base)


@dataclass(frozen=True)
class Cause:
    """A changed line and the findings (that count) it is the cause of: each is on it, or points at it."""

    line: ChangedLine
    column: int
    findings: tuple[Finding, ...]

    @property
    def location(self) -> SourceLocation:
        return SourceLocation(self.line.path, self.line.line, self.column)

    @property
    def severity(self) -> Severity:
        return min((f.severity for f in self.findings), key=_SEVERITY_RANK.__getitem__)

    @property
    def calls(self) -> int:
        """Broken calls, counted as the findings count them: one per calling object and cluster."""
        return sum(f.rule in CALL_RULES for f in self.findings)

    def clusters(self) -> list[str]:
        return sorted({f.cluster for f in self.findings if f.cluster}, key=cluster_order)

    def others(self) -> list[tuple[str, Severity, int]]:
        """(rule, severity, how many) of the findings that are not broken calls, most severe first."""
        counted = Counter((f.rule, f.severity) for f in self.findings if f.rule not in CALL_RULES)
        return sorted(((rule, sev, n) for (rule, sev), n in counted.items()),
                      key=lambda t: (_SEVERITY_RANK[t[1]], -t[2], t[0]))

    def effect(self) -> str:
        """"breaks 67 calls and causes 1 route-backend-exists error, in 46 clusters" (plain text, escaped)."""
        parts = [f"breaks {plural(self.calls, 'call')}"] if self.calls else []
        others = [f"{n} {rule} {sev.value}{'' if n == 1 else 's'}" for rule, sev, n in self.others()]
        if others:
            parts.append("causes " + _and(others))
        clusters = self.clusters()
        where = (f"in {plural(len(clusters), 'cluster')}" if len(clusters) > 1 else
                 f"in {clusters[0]}" if clusters else "fleet-wide")
        return f"{_and(parts)}, {textsafe.name(where)}"

    def as_dict(self) -> dict[str, Any]:
        """The cause as plain JSON data (the json and sarif formats, diff's JSON)."""
        return {"path": self.line.path, "line": self.line.line, "column": self.column, "change": self.line.what(),
                "effect": self.effect(), "findings": len(self.findings), "calls": self.calls,
                "clusters": self.clusters()}


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def cluster_order(name: str) -> tuple:
    """cluster-2 before cluster-10: the numbers in a name compared as numbers."""
    return tuple(int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", name)))  # odd places: the digits


def attribute(findings: Iterable[Finding], change: Change | None) -> tuple[list[Cause], list[Finding]]:
    """(the causes in the change, the findings no changed line explains). A finding that counts is caused by the
    first changed line among its own location and its related locations, in that order; waived findings and
    findings without a changed line are the rest. Causes come most severe first, then by how many findings."""
    items = list(findings)
    if change is None or not (change.lines or change.new_files):
        return [], items
    caused: dict[tuple[str, int], list[Finding]] = {}
    columns: dict[tuple[str, int], int] = {}
    rest = []
    for f in items:
        places = ([f.location] if f.location else []) + [r.location for r in f.related]
        hit = next((loc for loc in places if change.at(loc) is not None), None) if f.counts else None
        if hit is None:
            rest.append(f)
            continue
        key = (hit.path, hit.line)
        caused.setdefault(key, []).append(f)
        columns.setdefault(key, hit.column)
    causes = []
    for key, members in caused.items():
        line = change.at(SourceLocation(*key))
        assert line is not None
        causes.append(Cause(line, columns[key], tuple(members)))
    causes.sort(key=lambda c: (_SEVERITY_RANK[c.severity], -len(c.findings), c.line.path, c.line.line))
    return causes, rest


def heading(change: Change, causes: list[Cause], findings: int) -> str:
    """"causes in the change since main (0123456789ab): 1 changed line causes 68 of 68 findings"."""
    explained = sum(len(c.findings) for c in causes)
    if not causes:
        return f"causes in the change since {change.base}: no changed line is the cause of a finding"
    return (f"causes in the change since {change.base}: {plural(len(causes), 'changed line')} "
            f"cause{'s' if len(causes) == 1 else ''} {explained} of {plural(findings, 'finding')}")
