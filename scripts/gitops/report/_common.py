"""Grouping and counting shared by the human-facing formats."""
from __future__ import annotations

from typing import Iterable, Sequence

from ..findings import Finding

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


def plural(n: int, word: str) -> str:
    """"1 error", "2 errors": every count a report or message prints."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_text(counts: dict[str, int]) -> str:
    return ", ".join([plural(counts["errors"], "error"), plural(counts["warnings"], "warning"),
                      plural(counts["notices"], "notice"), f"{counts['waived']} waived"])


def by_cluster(findings: Iterable[Finding], clusters: Sequence[str] = ()) -> dict[str, list[Finding]]:
    """Findings per cluster: the checked clusters' order first, then any others, the fleet group last."""
    groups: dict[str, list[Finding]] = {}
    for f in ordered(findings):
        groups.setdefault(f.cluster or FLEET, []).append(f)
    rank = {name: i for i, name in enumerate(clusters)}
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] == FLEET, rank.get(kv[0], len(rank)), kv[0])))


def where(f: Finding) -> str:
    """Where to look: the source line, else the object, else nothing better than the rule."""
    if f.location:
        return str(f.location)
    return str(f.obj) if f.obj else "(no source line)"

