"""Grouping and counting shared by the human-facing formats."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from gitops.model import textsafe
from gitops.model.causes import Cause
from gitops.model.textsafe import plural
from gitops.model.findings import Finding, ObjectRef, Related, Severity, SourceLocation

# The group of findings that belong to no single cluster (inventory, waivers, clusterset-wide).
FLEET = "fleet"


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in a stable order, so the same input always renders the same bytes."""
    return sorted(findings, key=Finding.sort_key)


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts that decide the run: waived findings are counted apart, never as their severity."""
    counts = {"errors": 0, "warnings": 0, "notices": 0, "waived": 0}
    for f in findings:
        counts["waived" if not f.counts else f"{f.severity.value}s"] += 1
    return counts


def summary_text(counts: dict[str, int]) -> str:
    return ", ".join([plural(counts["errors"], "error"), plural(counts["warnings"], "warning"),
                      plural(counts["notices"], "notice"), f"{counts['waived']} waived"])


def _rank(clusters: Sequence[str]) -> dict[str, int]:
    """Each checked cluster's position: groups and headings follow the inventory's order, not the alphabet."""
    return {name: i for i, name in enumerate(clusters)}


def where(f: Finding) -> str:
    """Where to look: the source line, else the object, else nothing better than the rule (escaped: paths
    and names come from the repository)."""
    if f.location:
        return textsafe.name(str(f.location))
    return obj_text(f.obj) if f.obj else "(no source line)"


def obj_text(obj: ObjectRef) -> str:
    """"Kind namespace/name", escaped and bounded (an invalid name can be anything)."""
    return textsafe.name(str(obj))


def related_text(r: Related) -> str:
    """"path:line:col (note)": the note is already safe (findings.py), the path is escaped here."""
    return f"{textsafe.name(str(r.location))} ({r.note})"



# --- one finding per cause ---------------------------------------------------------------------------
#
# Fifty clusters receive the same base, so one broken line is fifty findings that differ only in the
# cluster they name. Every format renders `group(findings)`: the findings stay plain data, and this is
# the one place that decides which of them share a cause.

SHOWN_CLUSTERS = 3  # "cluster-1, cluster-2, cluster-3 and 44 more"


@dataclass(frozen=True)
class Group:
    """Findings of one rule at one source location with one message shape, in one or more clusters."""

    findings: tuple[Finding, ...]
    clusters: tuple[str, ...]  # in the checked clusters' order; empty for fleet-wide findings
    related: tuple[Related, ...]  # the other ends, one per source location
    shape: str = ""  # the message with cluster names replaced: what the members have in common

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def rule(self) -> str:
        return self.first.rule

    @property
    def severity(self) -> Severity:
        return self.first.severity

    @property
    def location(self) -> SourceLocation | None:
        return self.first.location

    @property
    def message(self) -> str:
        return self.first.message

    @property
    def counts(self) -> bool:
        return self.first.counts

    def where(self) -> str:
        return where(self.first)


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}


def severity_rank(f: Finding | Group) -> int:
    """0 for what fails the run (errors that count), then warnings, notices, and waived findings last."""
    return _SEVERITY_RANK[f.severity] if f.counts else 3


def _cluster_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    names = sorted({n for n in names if n}, key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])")


def shape(text: str, pattern: re.Pattern[str] | None) -> str:
    """The text with every cluster name replaced, so the same problem in two clusters has one shape."""
    return pattern.sub("{cluster}", text) if pattern else text


def cluster_list(clusters: Sequence[str], total: int = 0, shown: int = SHOWN_CLUSTERS) -> str:
    """"cluster-1", or "in 47 of 50 clusters: cluster-1, cluster-2, cluster-3 and 44 more"."""
    if len(clusters) <= 1:
        return clusters[0] if clusters else ""
    names = ", ".join(clusters[:shown])
    rest = len(clusters) - shown
    names += f" and {rest} more" if rest > 0 else ""
    of = f" of {total}" if total >= len(clusters) else ""
    return f"in {len(clusters)}{of} clusters: {names}"


def _merge_related(findings: Sequence[Finding], pattern: re.Pattern[str] | None) -> tuple[Related, ...]:
    """One related location per source line: "Service storefront/orders port 9090 (in 25 clusters)"."""
    notes: dict[SourceLocation, list[str]] = {}
    for f in findings:
        for r in f.related:
            notes.setdefault(r.location, []).append(r.note)
    out = []
    for loc, items in notes.items():
        distinct = list(dict.fromkeys(items))
        if len(distinct) == 1:
            out.append(Related(loc, distinct[0]))
            continue
        shapes = list(dict.fromkeys(" ".join(shape(n, pattern).replace("{cluster}", "").split()) for n in distinct))
        note = shapes[0] if len(shapes) == 1 else f"{shapes[0]} (and {len(shapes) - 1} other notes)"
        out.append(Related(loc, f"{note} (in {len(distinct)} clusters)"))
    return tuple(sorted(out))


def group(findings: Iterable[Finding], clusters: Sequence[str] = ()) -> list[Group]:
    """Findings that share rule, severity, waiver, source location (else object) and message shape.

    Ordered by location, then rule, so output is stable whatever order the findings came in."""
    items = ordered(findings)
    pattern = _cluster_pattern([*clusters, *(f.cluster or "" for f in items)])
    buckets: dict[tuple, list[Finding]] = {}
    for f in items:
        place = str(f.location) if f.location else f"~{f.obj or ''}"
        key = (f.rule, f.severity, f.waived, place, f.field_path if not f.location else "", shape(f.message, pattern))
        buckets.setdefault(key, []).append(f)
    rank = _rank(clusters)
    groups = []
    for members in buckets.values():
        names = sorted({f.cluster for f in members if f.cluster}, key=lambda c: (rank.get(c, len(rank)), c))
        members.sort(key=lambda f: (rank.get(f.cluster or "", len(rank)), f.sort_key()))
        groups.append(Group(tuple(members), tuple(names), _merge_related(members, pattern), key[-1]))
    groups.sort(key=lambda g: (g.location is None, g.location or SourceLocation("", 0), g.rule,
                               str(g.first.obj or ""), g.message))
    return groups


def by_clusters(groups: Iterable[Group], clusters: Sequence[str] = ()) -> dict[str, list[Group]]:
    """Groups under one heading per set of clusters: single clusters in the checked order, then the
    groups that span several clusters ("in 47 of 50 clusters: ..."), the fleet-wide ones last."""
    rank = _rank(clusters)
    out: dict[str, list[Group]] = {}
    order: dict[str, tuple] = {}
    for g in groups:
        label = cluster_list(g.clusters, len(clusters)) or FLEET
        out.setdefault(label, []).append(g)
        order[label] = (not g.clusters, len(g.clusters) > 1,
                        rank.get(g.clusters[0], len(rank)) if g.clusters else 0, -len(g.clusters), label)
    return {label: out[label] for label in sorted(out, key=order.__getitem__)}


# --- causes first ------------------------------------------------------------------------------------

def beside(g: Group, cause: Cause) -> tuple[Related, ...]:
    """A group's other ends but the cause itself (its heading already names that line)."""
    return tuple(r for r in g.related if (r.location.path, r.location.line) != (cause.line.path, cause.line.line))


def cause_fixes(cause: Cause) -> dict[str, str]:
    """Each rule's fix hint once per cause ({rule: fix}), in the order the rules first appear."""
    return {f.rule: f.fix for f in cause.findings if f.fix}


def in_cluster_order(groups: Iterable[Group], clusters: Sequence[str]) -> list[Group]:
    """Groups by their first cluster's place in the inventory (fleet-wide ones first), then as `group` ordered them:
    a cause's findings read cluster by cluster."""
    rank = _rank(clusters)
    return sorted(groups, key=lambda g: rank.get(g.clusters[0], len(rank)) if g.clusters else -1)
