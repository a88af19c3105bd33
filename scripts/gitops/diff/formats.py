"""The three renderings of a diff: text for a terminal, Markdown for pull-request comments, JSON for scripts.

Every rendering leads with the causes in the change (the changed lines the introduced findings are on or point
at, model/causes.py), counts calls as calls (one per object holding the URL, as the findings count them, never
caller x exporter edges), and shows clusters with the same changes once ("same in 25 of 50 clusters").

Every renderer returns a list of parts; only Markdown ever has more than one, because a PR
comment is limited in size (GitHub: 65536 characters). Markdown is cut only between blocks
(a section, a file's diff); a block too large for one comment is cut between lines and its
code fence (and its <details> fold) is closed and reopened, so every part renders on its own.
Long lists and the rendered diffs are folded into <details>, so the comment's first screen is the verdict.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Callable, Iterator

from gitops.diff.compare import (ADDED, BROKEN, CHANGED, REMOVED, UNCHANGED, UNEXPORTED, ClusterDiff, Diff, Edge, Graph, Node, ObjectChange, title)
from gitops.infra import fsio
from gitops.model import textsafe
from gitops.model.errors import UsageError
from gitops.model.causes import Cause, cluster_order, heading
from gitops.model.findings import Finding
from gitops.report._common import SHOWN_CLUSTERS, cluster_list, group, in_cluster_order, plural, where as where_text
from gitops.report.markdown import cause_list, cell, code, details, html_code, rule_changes
from gitops.report.json import finding_dict
from gitops.diff import DEFAULT_MAX_CHARS

MARKER = "<!-- gitops-diff part {i} -->"
MIN_MAX_CHARS = 500
JSON_VERSION = 1
_KINDS_OF_CHANGE = (ADDED, REMOVED, CHANGED)
_SIGN = {ADDED: "+", REMOVED: "-", CHANGED: "~"}


def counts(c: ClusterDiff) -> str:
    """"1 added, 0 removed, 2 changed" (or "no changes")."""
    if not c.changes:
        return "no changes"
    return ", ".join(f"{len(c.of(kind))} {kind}" for kind in _KINDS_OF_CHANGE)


def base_line(d: Diff) -> str:
    return f"base {textsafe.name(d.base_ref)} ({d.base_commit[:12]}) -> head (working tree)"


def _finding_line(f: Finding) -> str:
    return f"{f.severity.value} {textsafe.name(f.rule)}: {f.message} ({where_text(f)})"


STALE_SHOWN = 20  # stale files listed per revision; the rest are counted


def _stale(d: Diff) -> list[tuple[str, list[Finding]]]:
    """(what it says, the stale findings) for each revision whose committed folders differ from its build."""
    out = []
    for which, found in (("the base", d.stale_base), ("this change", d.stale_head)):
        if found:
            out.append((f"The committed clusters/ and bootstrap/ of {which} differ from what its sources render "
                        f"({plural(len(found), 'file')}): the sync engines apply the committed files, which the "
                        "changes below show; findings and the call graph are of the sources' build. "
                        "Run `nox -s render` and commit the result.", found))
    return out


def _stale_lines(found: list[Finding]) -> list[str]:
    shown = [f"{where_text(f)}: {f.message}" for f in found[:STALE_SHOWN]]
    return shown + ([f"and {len(found) - STALE_SHOWN} more"] if len(found) > STALE_SHOWN else [])


def _same(cluster: str, text: str) -> str:
    """A cluster's path or diff with its own folder name taken out, so fifty identical changes compare equal."""
    return text.replace(f"clusters/{cluster}/", "clusters/<cluster>/") if cluster else text


def same_changes(d: Diff) -> list[tuple[list[str], ClusterDiff]]:
    """Clusters whose changes are the same objects changed the same way, together (inventory order of the first;
    clusters without changes are one entry too): (cluster names, the first cluster's changes)."""
    same: dict[tuple, list[ClusterDiff]] = {}
    for c in d.clusters:
        key = tuple((ch.change, ch.title, _same(c.cluster, ch.path)) for ch in c.changes)
        same.setdefault(key, []).append(c)
    return [([m.cluster for m in members], members[0]) for members in same.values()]


def _who(clusters: list[str], total: int) -> str:
    """"cluster-2", or "same in 25 of 50 clusters: cluster-1, cluster-4, cluster-5 and 22 more"."""
    return clusters[0] if len(clusters) == 1 else f"same {cluster_list(clusters, total)}"


@dataclass(frozen=True)
class CallRow:
    """One call the change adds, removes or breaks: its callers, the Service in all exporting clusters together."""

    status: str
    callers: tuple[Node, ...]
    target: str  # "Service ns/name (25 clusters)", "... in cluster-2", "... (not exported)"
    url: str
    rule: str
    where: str
    problem: str

    def line(self) -> str:
        why = f": {self.rule + ': ' if self.rule else ''}{self.problem}" if self.problem else ""
        why += f" ({textsafe.name(self.where)})" if self.where else ""
        callers = ", ".join(textsafe.name(c.label) for c in self.callers)
        return f"{callers} -> {textsafe.name(self.target)} ({self.url}){why}"


def call_rows(g: Graph) -> list[CallRow]:
    """The calls the change adds, removes or breaks, broken first, one row per call (Edge.call) and status."""
    rows: dict[tuple, list[Edge]] = {}
    for e in g.edges:
        if e.status != UNCHANGED:
            rows.setdefault((_SEVERITY[e.status], e.call, e.status), []).append(e)
    out = []
    def order(kv: tuple[tuple, list[Edge]]) -> tuple:  # broken first, then cluster-2 before cluster-10
        first = min(e.caller for e in kv[1])
        return kv[0][0], cluster_order(first.cluster), first, kv[0][1]

    for (_, _, status), edges in sorted(rows.items(), key=order):
        e = edges[0]
        targets = sorted({t.target.cluster for t in edges if t.target.cluster})
        target = title("Service", e.target.namespace, e.target.name) + (
            f" ({len(targets)} clusters)" if len(targets) > 1 else f" in {targets[0]}" if targets else " (not exported)")
        callers = tuple(sorted({t.caller for t in edges}))
        out.append(CallRow(status, callers, target, e.url, e.rule, e.where, e.problem))
    return out


def calls_text(g: Graph) -> str:
    """"1,234 calls: 67 broken, 1,167 unchanged" (a call counted once, whatever the number of its exporters)."""
    counts = g.calls()
    total = sum(counts.values())
    parts = [f"{counts[s]:,} {s}" for s in (BROKEN, REMOVED, ADDED, UNCHANGED) if counts[s]]
    return f"{total:,} call{'' if total == 1 else 's'}" + (f": {', '.join(parts)}" if parts else "")


def _causes(d: Diff) -> tuple[list[Cause], str | None]:
    """The causes of the introduced findings, and their heading (None when the change's lines are unknown or
    nothing was introduced)."""
    causes, _ = d.causes()
    if d.change is None or not d.change.known or not d.introduced:
        return causes, None
    return causes, heading(d.change, causes, len(d.introduced))


# --- text --------------------------------------------------------------------------------------------

_RESET, _BOLD = "\033[0m", "\033[1m"
_COLOR = {"+": "\033[32m", "-": "\033[31m", "@": "\033[36m", "~": "\033[33m"}
_EDGE_COLOR = {ADDED: "\033[32m", REMOVED: "\033[2m", BROKEN: "\033[31m", UNCHANGED: ""}


def _diff_line(line: str, paint: Callable[[str, str], str]) -> str:
    if line.startswith(("+++", "---")):
        return paint(_BOLD, line)
    return paint(_COLOR.get(line[:1], ""), line)


def text(d: Diff, color: bool = False) -> str:
    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if color and code else s

    out = [paint(_BOLD, base_line(d))]
    if d.rule_changes is not None:
        out.append(paint(_BOLD, d.rule_changes.heading()))
        out += [paint(_COLOR["~"] if c.loosens else "", f"  {c.line()}") for c in d.rule_changes.changes]
    causes, said = _causes(d)
    if said is not None:
        out.append(paint(_BOLD, said))
        out += [f"  {textsafe.name(str(c.location))}: {c.line.what()} {c.effect()}" for c in causes]
    for note, found in _stale(d):
        out.append(paint(_COLOR["-"], f"warning: {note}"))
        out += [f"  {line}" for line in _stale_lines(found)]
    total = len(d.clusters)
    for clusters, c in same_changes(d):
        if not c.changes:
            out.append(paint(_BOLD, f"{clusters[0]}: no changes" if len(clusters) == 1 else
                             f"no change {cluster_list(clusters, total)}"))
            continue
        out.append(paint(_BOLD, f"{textsafe.name(_who(clusters, total))}: {counts(c)}"))
        out += [paint(_COLOR[_SIGN[ch.change]], f"  {_SIGN[ch.change]} {ch.change:<8} {textsafe.name(ch.title)}  "
                                                f"{textsafe.name(_same(c.cluster, ch.path) if len(clusters) > 1 else ch.path)}")
                for ch in c.changes]
    if d.waves and d.changed:
        out.append(paint(_BOLD, f"rollout: {first_wave(d)}"))
        out += [f"  {line}" for line in _wave_lines(d)]
    out.append(paint(_BOLD, f"findings: {d.findings.title()}"))
    names = [c.cluster for c in d.clusters]
    for sign, found, says in (("+", d.introduced, ""),
                              ("+", d.findings.introduced_waived, "introduced and waived by this change"),
                              ("~", d.findings.newly_waived, "waived by this change"), ("-", d.fixed, "")):
        for g in group(found, names):
            where = f" [{cluster_list(g.clusters, len(names))}]" if len(g.clusters) > 1 else ""
            why = f": {says} ({g.first.waived})" if says else ""
            out.append(paint(_COLOR[sign], f"  {sign} {_finding_line(g.first)}{where}{why}"))
    out.append(paint(_BOLD, f"call graph across clusters: {calls_text(d.graph)}"))
    out += [paint(_EDGE_COLOR[r.status], f"  {r.status:<9} {r.line()}") for r in call_rows(d.graph)]
    for (change, path, body), members in _same_diffs(d).items():
        if len(members) > 1:
            out.append(paint(_BOLD, f"same change {cluster_list([m for m, _ in members], total)}:"))
        out += [_diff_line(line, paint) for line in (body if len(members) > 1 else members[0][1].diff).splitlines()]
    return textsafe.log_lines("\n".join(out) + "\n")


def _same_diffs(d: Diff) -> dict[tuple[str, str, str], list[tuple[str, ObjectChange]]]:
    """Each distinct rendered diff (cluster folder names taken out), with the clusters and changes that have it."""
    same: dict[tuple[str, str, str], list[tuple[str, ObjectChange]]] = {}
    for c in d.clusters:
        for ch in c.changes:
            key = (ch.change, _same(c.cluster, ch.path), _same(c.cluster, ch.diff))
            same.setdefault(key, []).append((c.cluster, ch))
    return same


def first_wave(d: Diff) -> str:
    """Which wave the change reaches first on merge: the first changed one that follows the repository's revision
    (a wave with a revision of its own gets it when it is promoted there)."""
    waves = plural(len(d.waves), "wave")
    changed = [w for w in d.waves if w.changed]
    if not changed:
        return f"{waves}; this change reaches none of them"
    first = next((w for w in changed if not w.revision), None)
    if first is None:
        return f"{waves}; on merge this change reaches none of them: each changed wave follows its own revision"
    return f"{waves}; this change reaches {first.title} first"


def _wave_lines(d: Diff) -> list[str]:
    """"wave 2: 3 of 4 clusters change (cluster-2, cluster-3, cluster-5 and ...)", in rollout order."""
    out = []
    for w in d.waves:
        size = len(w.changed) + len(w.unchanged)
        shown = ", ".join(w.changed[:SHOWN_CLUSTERS]) + (f" and {len(w.changed) - SHOWN_CLUSTERS} more"
                                                         if len(w.changed) > SHOWN_CLUSTERS else "")
        what = f"{len(w.changed)} of {plural(size, 'cluster')} change ({shown})" if w.changed else \
            f"no change in its {plural(size, 'cluster')}"
        follows = f"; it follows revision {w.revision}: the change reaches it when promoted there" \
            if w.revision and w.changed else ""
        out.append(f"{w.title}: {what}{follows}")
    return out


# --- json --------------------------------------------------------------------------------------------

def _node_id(n: Node) -> str:
    return "/".join((n.cluster or "-", n.kind, n.namespace, n.name))


def as_json(d: Diff) -> str:
    doc = {
        "version": JSON_VERSION,
        "base": {"ref": d.base_ref, "commit": d.base_commit},
        "changed": d.changed,
        "clusters": [{
            "cluster": c.cluster,
            **{kind: len(c.of(kind)) for kind in _KINDS_OF_CHANGE},
            "objects": [{"change": ch.change, "path": ch.path, "kind": ch.kind, "namespace": ch.namespace,
                         "name": ch.name, "diff": ch.diff} for ch in c.changes],
        } for c in d.clusters],
        **({"waves": [{"wave": w.wave, "changed": w.changed, "unchanged": w.unchanged, "revision": w.revision}
                      for w in d.waves]} if d.waves else {}),
        "ruleChanges": d.rule_changes.as_dict() if d.rule_changes is not None else None,
        "change": None if d.change is None else {"base": d.change.base or None, "note": d.change.note or None},
        "causes": [c.as_dict() for c in d.causes()[0]],
        "stale": {"base": [finding_dict(f) for f in d.stale_base], "head": [finding_dict(f) for f in d.stale_head]},
        "findings": {"introduced": [finding_dict(f) for f in d.introduced],
                     "introducedAndWaived": [finding_dict(f) for f in d.findings.introduced_waived],
                     "waivedByThisChange": [finding_dict(f) for f in d.findings.newly_waived],
                     "fixed": [finding_dict(f) for f in d.fixed]},
        "graph": {
            "calls": dict(sorted(d.graph.calls().items())),
            "nodes": [{"id": _node_id(n), "cluster": n.cluster or None, "kind": n.kind, "namespace": n.namespace,
                       "name": n.name, "status": s} for n, s in d.graph.nodes.items()],
            "edges": [{"from": _node_id(e.caller), "to": _node_id(e.target), "url": e.url, "status": e.status,
                       "problem": e.problem or None, "rule": e.rule or None, "where": e.where or None}
                      for e in d.graph.edges],
        },
    }
    return textsafe.json_document(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


# --- markdown ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A unit of a comment: heading lines, then either plain lines or the lines of one code fence; with `fold`, the
    lines (or the fence) are folded into <details> under that summary (HTML, escaped by the caller)."""

    head: str
    lines: tuple[str, ...] = ()
    lang: str | None = None  # set: `lines` are the body of a fence in this language
    fold: str | None = None

    def fence(self) -> str:
        longest = max((len(m) for line in self.lines for m in re.findall(r"`+", line)), default=0)
        return "`" * max(3, longest + 1)

    def render(self, lines: tuple[str, ...] | None = None, head: str | None = None, continued: bool = False) -> str:
        body = self.lines if lines is None else lines
        head = self.head if head is None else head
        inner = "".join(line + "\n" for line in body)
        if self.lang is not None:
            fence = self.fence()
            inner = f"{fence}{self.lang}\n{inner}{fence}\n"
        if self.fold is not None:
            summary = self.fold + (" (continued)" if continued else "")
            inner = details(summary, inner.rstrip("\n")) + "\n"
        # A comment part printed to a CI log (or the job summary of a fork's run) must start no workflow command.
        return textsafe.log_lines(head + inner)


def _md(s: str) -> str:
    """Inline code, safe for any backticks in `s`, on one line with nothing invisible."""
    s = textsafe.name(s)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def _verdict(d: Diff) -> str:
    if not d.changed:
        return "No cluster receives a change."
    n, total = sum(bool(c.changes) for c in d.clusters), len(d.clusters)
    verb = "receives" if n == 1 else "receive"
    return f"{n} of {plural(total, 'cluster')} {verb} changes." if total > 1 else f"{plural(n, 'cluster')} {verb} changes."


OBJECTS_SHOWN = 3  # objects named in a row of the summary table; the folded list below has them all
FOLDED_LINES = 10  # a list longer than this is folded into <details>


def _title(d: Diff, causes: list[Cause]) -> str:
    """"## GitOps diff: 68 introduced, 0 fixed — 1 changed line causes them"."""
    text = f"## GitOps diff: {d.findings.title()}"
    if causes:
        n = sum(len(c.findings) for c in causes)
        text += (f" — {plural(len(causes), 'changed line')} cause{'s' if len(causes) == 1 else ''} "
                 f"{'them' if n == len(d.introduced) else f'{n} of them'}")
    return text


def _summary_blocks(d: Diff) -> Iterator[Block]:
    causes, _ = _causes(d)
    items = cause_list(causes)
    # The title and the causes first: the changed line is named within the comment's first five lines.
    yield Block(_title(d, causes) + "\n", tuple(items))
    yield Block(f"\nBase {_md(d.base_ref)} ({_md(d.base_commit[:12])}) compared with this change.\n")
    if d.rule_changes is not None:  # a rule switched off changes the verdict as much as any finding
        yield Block(f"\n{rule_changes(d.rule_changes)}\n")
    for note, found in _stale(d):
        yield Block(f"\n> :warning: {cell(note)}\n\n", tuple(f"- {code(line)}" for line in _stale_lines(found)))
    total = len(d.clusters)
    groups = same_changes(d)
    changed = [(clusters, c) for clusters, c in groups if c.changes]
    quiet = [name for clusters, c in groups if not c.changes for name in clusters]
    rows = []
    for clusters, c in changed:
        shown = [f"{ch.change} {_md(ch.title)}" for ch in c.changes[:OBJECTS_SHOWN]]
        if len(c.changes) > OBJECTS_SHOWN:
            shown.append(f"and {len(c.changes) - OBJECTS_SHOWN} more")
        rows.append(f"| {cell(_who(clusters, total))} | " + " | ".join(str(len(c.of(k))) for k in _KINDS_OF_CHANGE)
                    + f" | {'<br>'.join(shown)} |")
    if quiet:
        rows += ["", f"No change {cell(cluster_list(quiet, total))}." if len(quiet) > 1 else
                 f"No change in {cell(quiet[0])}."]
    table = ("| clusters | added | removed | changed | objects |\n| --- | ---: | ---: | ---: | --- |\n"
             if changed else "")
    yield Block(f"\n{_verdict(d)}\n\n{table}", tuple(rows))
    if d.waves and d.changed:
        yield Block(f"\n#### Rollout: {cell(first_wave(d))}\n\n", tuple(f"- {cell(line)}" for line in _wave_lines(d)))
    if any(len(c.changes) > OBJECTS_SHOWN for _, c in changed):  # every object, where a row could not name them all
        lines = tuple(f"- {cell(_who(clusters, total))}: {ch.change} {_md(ch.title)}"
                      for clusters, c in changed for ch in c.changes)
        yield Block("\n", lines, fold=f"Every object added, removed or changed ({len(lines)})")


def _finding_lines(findings: list[Finding] | tuple[Finding, ...], total: int, clusters: list[str],
                   fixed: bool) -> list[str]:
    out = []
    for g in in_cluster_order(group(findings, clusters), clusters):
        f = g.first
        who = cluster_list(g.clusters, total) or "fleet"
        where = "" if fixed else f" ({_md(g.where())})"
        head = f":white_check_mark: fixed {_md(f.rule)}" if fixed else f":new: {_md(f.rule)} {f.severity.value}"
        out.append(f"- {head} in {cell(who)}: {cell(f.message)}{where}")
    return out


def _fix_lines(findings: list[Finding] | tuple[Finding, ...]) -> list[str]:
    """Each rule's fix hint once, after the list (fifty findings of one rule share one hint)."""
    fixes = {f.rule: f.fix for f in findings if f.fix}
    if not fixes:
        return []
    return ["", "**How to fix**", ""] + [f"- {_md(rule)}: {cell(fix)}" for rule, fix in fixes.items()]


def _waived_lines(findings: list[Finding], total: int, clusters: list[str], says: str) -> list[str]:
    """Findings the change waives: shown with the waiver's reason, never counted as fixed or left out."""
    out = []
    for g in group(findings, clusters):
        f = g.first
        who = cluster_list(g.clusters, total) or "fleet"
        out.append(f"- :mute: {_md(f.rule)} {f.severity.value} in {cell(who)}, **{says}**: {cell(f.message)} "
                   f"({_md(g.where())}); waived: {cell(f.waived or '')}")
    return out


def _folded(head: str, lines: list[str], summary: str) -> Block:
    """The lines as they are when they are few, else folded under `summary`."""
    return Block(head, tuple(lines), fold=summary if len(lines) > FOLDED_LINES else None)


def _findings_blocks(d: Diff) -> Iterator[Block]:
    """The findings the change introduces (those of each cause folded under it), waives and fixes."""
    clusters = [c.cluster for c in d.clusters]
    total = len(clusters)
    yield Block(f"\n### Findings: {d.findings.title()}\n")
    causes, rest = d.causes()
    for c in causes:
        lines = _finding_lines(c.findings, total, clusters, False) + _fix_lines(c.findings)
        n = len(c.findings)
        yield Block("\n", tuple(lines), fold=f"{plural(n, 'finding')} introduced by "
                                              f"{html_code(f'{c.line.path}:{c.line.line}')} ({cell(c.line.what())})")
    if rest:
        lines = _finding_lines(rest, total, clusters, False) + _fix_lines(rest)
        label = "other findings introduced" if causes else "findings introduced"
        yield _folded("\n", lines, f"{len(rest)} {label}")
    waived = (_waived_lines(d.findings.introduced_waived, total, clusters, "introduced and waived by this change")
              + _waived_lines(d.findings.newly_waived, total, clusters, "waived by this change"))
    if waived:
        yield _folded("\n", waived, f"{len(waived)} findings waived by this change")
    if d.fixed:
        yield _folded("\n", _finding_lines(d.fixed, total, clusters, True), f"{len(d.fixed)} findings fixed")
    if not (d.introduced or waived or d.fixed):
        yield Block("\n", ("Nothing introduced, nothing fixed.",))


_ARROW = {ADDED: "==>", REMOVED: "-.->", BROKEN: "-.-x", UNCHANGED: "-->"}
_LINK_STYLE = {ADDED: "stroke:#1a7f37,stroke-width:3px", REMOVED: "stroke:#8c959f,stroke-dasharray:4 4",
               BROKEN: "stroke:#cf222e,stroke-width:3px", UNCHANGED: "stroke:#57606a"}
_NODE_CLASS = {ADDED: "fill:#dafbe1,stroke:#1a7f37", REMOVED: "fill:#eaeef2,stroke:#8c959f,stroke-dasharray:4 4",
               BROKEN: "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4 4",
               UNEXPORTED: "fill:#fff8c5,stroke:#9a6700,stroke-dasharray:4 4"}
_SEVERITY = {BROKEN: 0, REMOVED: 1, ADDED: 2, UNCHANGED: 3}
DETAIL_EDGES = 100  # above this many edges the diagram collapses to clusterset and namespace
MERMAID_MAX_EDGES = 500  # Mermaid refuses to draw more ("Edge limit exceeded")


def _label(s: str) -> str:
    s = textsafe.name(s)
    return s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


@dataclass(frozen=True)
class Drawing:
    """What the diagram draws: boxes in subgraphs, and edges between them with a count each."""

    level: str  # "object", "namespace" or "clusterset"
    boxes: dict[tuple, tuple[str, str, str]]  # key -> (subgraph, label, status)
    edges: list[tuple[tuple, tuple, str, int]]  # (from, to, status, how many calls it stands for: Edge.call)
    left_out: int = 0  # calls not drawn to stay under Mermaid's limit


def drawing(g: Graph) -> Drawing:
    """Every edge when there are few; else only the changed ones, collapsed to (clusterset, namespace)
    and, if still too many, to clusterset; never more than Mermaid's edge limit."""
    edges = g.edges if len(g.edges) <= DETAIL_EDGES else [e for e in g.edges if e.status != UNCHANGED]
    if len(edges) <= DETAIL_EDGES:
        touched = {n for e in edges for n in (e.caller, e.target)}
        boxes = {(n,): (n.cluster or "not exported", title(n.kind, n.namespace, n.name), s)
                 for n, s in g.nodes.items() if edges is g.edges or n in touched}
        return Drawing("object", boxes, [((e.caller,), (e.target,), e.status, 1) for e in edges])

    def clusterset(n: Node) -> str:
        return g.clustersets.get(n.cluster, n.cluster or "not exported")

    for level in ("namespace", "clusterset"):
        def caller(n: Node) -> tuple[str, str]:
            """Callers merge per namespace (or clusterset); the Services they call keep their names."""
            return (clusterset(n), f"callers in namespace {n.namespace}" if level == "namespace" else "callers")

        calls: dict[tuple, set[tuple]] = {}  # a drawn edge -> the calls it stands for (25 exporters: one call)
        for e in edges:
            k = (caller(e.caller), (clusterset(e.target), title("Service", e.target.namespace, e.target.name)),
                 e.status)
            calls.setdefault(k, set()).add(e.call)
        merged = {k: len(v) for k, v in calls.items()}
        if len(merged) <= MERMAID_MAX_EDGES or level == "clusterset":
            ordered = sorted(merged.items(), key=lambda kv: (_SEVERITY[kv[0][2]], -kv[1], kv[0]))
            kept = ordered[:MERMAID_MAX_EDGES]
            boxes = {k: (k[0], k[1], "") for (a, b, _), _ in kept for k in (a, b)}
            return Drawing(level, boxes, [(a, b, st, n) for (a, b, st), n in kept],
                           sum(n for _, n in ordered[MERMAID_MAX_EDGES:]))
    raise AssertionError("unreachable")


def mermaid(g: Graph) -> list[str]:
    """A Mermaid `flowchart LR`: one subgraph per cluster (or clusterset); styles say what the change does."""
    d = drawing(g)
    ids = {k: f"n{i}" for i, k in enumerate(d.boxes)}
    lines = ["flowchart LR"]
    for i, group_name in enumerate(dict.fromkeys(v[0] for v in d.boxes.values())):
        lines.append(f'  subgraph c{i}["{_label(group_name)}"]')
        lines += [f'    {ids[k]}["{_label(label)}"]' for k, (sub, label, _) in d.boxes.items() if sub == group_name]
        lines.append("  end")
    for a, b, status, n in d.edges:
        text = status if n == 1 else f"{n} {status}"
        lines.append(f"  {ids[a]} {_ARROW[status]}|{text}| {ids[b]}")
    for status, style in _NODE_CLASS.items():
        members = [ids[k] for k, v in d.boxes.items() if v[2] == status]
        if members:
            lines += [f"  classDef {status} {style}", f"  class {','.join(members)} {status}"]
    for status, style in _LINK_STYLE.items():
        indexes = [str(i) for i, e in enumerate(d.edges) if e[2] == status]
        if indexes:
            lines.append(f"  linkStyle {','.join(indexes)} {style}")
    return lines


def _call_table(rows: list[CallRow], listed: AbstractSet[tuple[str, str]]) -> list[str]:
    out = []
    for r in rows:
        if r.rule and (r.rule, r.where) in listed:  # its message is in the findings above: name it, do not repeat it
            why = f"{code(r.rule)} at {code(r.where)}"
        elif r.rule:
            why = f"{code(r.rule)}: {cell(r.problem)} ({code(r.where)})"
        else:
            why = cell(r.problem)
        callers = "<br>".join(code(c.label) for c in r.callers)
        out.append(f"| {r.status} | {callers} | {cell(r.target)} | {code(r.url)} | {why} |")
    return out


def _graph_blocks(g: Graph, budget: int, listed: AbstractSet[tuple[str, str]] = frozenset()) -> Iterator[Block]:
    head = f"\n### Call graph across clusters ({calls_text(g)})\n\n"
    if not g.nodes:
        yield Block(head, ("No workload calls a `*.svc.clusterset.local` name and nothing is exported.",))
        return
    rows = call_rows(g)
    if rows:  # the changed calls first, folded when many: one row per call, its exporting clusters together
        table = ("| call | caller | target | URL | why |", "| --- | --- | --- | --- | --- |", *_call_table(rows, listed))
        counted = {s: sum(r.status == s for r in rows) for s in (BROKEN, REMOVED, ADDED)}
        what = ", ".join(f"{n} {s}" for s, n in counted.items() if n)
        yield Block(head, table, fold=f"The calls this change breaks, removes or adds ({what})"
                    if len(rows) > FOLDED_LINES else None)
        head = "\n"
    d = drawing(g)
    note = {"object": "", "namespace": "_Collapsed to clusterset and namespace; only changed calls are drawn._\n\n",
            "clusterset": "_Collapsed to clustersets; only changed calls are drawn._\n\n"}[d.level]
    if d.left_out:
        note += f"_{d.left_out} calls not drawn (Mermaid draws at most {MERMAID_MAX_EDGES} edges); the table lists them._\n\n"
    chart = Block(head + note, tuple(mermaid(g)), "mermaid")
    if len(chart.render()) <= budget:
        yield chart
    else:  # a diagram cut in two renders as neither; the table has every changed call
        yield Block(head + note, ("_The diagram is too large for one comment; every changed call is in the table._",))
    unchanged = g.calls()[UNCHANGED]
    yield Block("", (f"\n{plural(unchanged, 'unchanged call')} not listed.",) if unchanged else ())


def _diff_blocks(d: Diff) -> Iterator[Block]:
    """The rendered YAML diffs, folded: an identical diff in several clusters once ("same change in 25 of 50")."""
    same = _same_diffs(d)
    if same:
        yield Block("\n### Rendered changes\n")
    for (change, path, text), members in same.items():
        if len(members) == 1:  # one cluster: its own path and diff, as they are
            cluster, ch = members[0]
            who, path, text = cell(cluster), ch.path, ch.diff
        else:
            who = f"same change {cell(cluster_list([c for c, _ in members], len(d.clusters)))}"
        yield Block("\n", tuple(text.splitlines()), "diff", fold=f"{who}: {change} {html_code(path)}")


def _cut(line: str, width: int) -> list[str]:
    return [line[i:i + width] for i in range(0, len(line), width)] or [""]


def split_block(block: Block, budget: int) -> list[str]:
    """The block as one or more texts of at most `budget` characters, cut between lines.

    A fenced block is closed at every cut and reopened, under a "(continued)" heading; a folded one is closed and
    reopened under its summary and "(continued)"."""
    whole = block.render()
    if len(whole) <= budget:
        return [whole]
    cont = "_(continued)_\n\n" if block.lang and block.fold is None else ""
    overhead = max(len(block.render((), block.head)), len(block.render((), cont, True)))
    width = budget - overhead - 1
    if width < 20:
        raise UsageError(f"--max-comment-chars {budget} is too small for a heading of {len(block.head)} characters")
    pieces: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in (piece for raw in block.lines for piece in _cut(raw, width)):
        if chunk and size + len(line) + 1 > width:
            pieces.append(block.render(tuple(chunk), block.head if not pieces else cont, bool(pieces)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    pieces.append(block.render(tuple(chunk), block.head if not pieces else cont, bool(pieces)))
    return pieces


def _header(i: int, n: int) -> str:
    return f"{MARKER.format(i=i)}\n_GitOps diff, part {i}/{n}_\n\n"


def part_path(out: Path, i: int) -> Path:
    """Where part `i` of `--output-file OUT` goes: OUT, OUT.2, OUT.3, ..."""
    return out if i == 1 else out.with_name(f"{out.name}.{i}")


def wrote(path: Path, i: int) -> bool:
    """Whether `path` is part `i` that a diff wrote (a regular file starting with its marker): only those are
    removed when a later diff has fewer parts, never a file of the same name that someone else made."""
    marker = f"{MARKER.format(i=i)}\n".encode()
    return fsio.read_head(path, len(marker)) == marker


def markdown(d: Diff, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Comment bodies, each at most `max_chars` characters and headed "part i/n" with a hidden marker."""
    if max_chars < MIN_MAX_CHARS:
        raise UsageError(f"--max-comment-chars must be at least {MIN_MAX_CHARS}, not {max_chars}")
    budget = max_chars - len(_header(10**6, 10**6))
    listed = {(f.rule, f.where()) for f in d.introduced}
    blocks = [*_summary_blocks(d), *_findings_blocks(d), *_graph_blocks(d.graph, budget, listed),
              *_diff_blocks(d)]
    bodies: list[str] = []
    for piece in (p for b in blocks for p in split_block(b, budget)):
        if bodies and len(bodies[-1]) + len(piece) <= budget:
            bodies[-1] += piece
        else:
            bodies.append(piece)
    return [_header(i, len(bodies)) + body for i, body in enumerate(bodies, 1)]


def render(fmt: str, d: Diff, color: bool = False, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """The output of one format as parts (one, except Markdown too long for one comment)."""
    if fmt == "markdown":
        return markdown(d, max_chars)
    if fmt == "json":
        return [as_json(d)]
    return [text(d, color)]
