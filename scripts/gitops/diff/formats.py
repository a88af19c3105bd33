"""The three renderings of a diff: text for a terminal, Markdown for pull-request comments, JSON for scripts.

Every renderer returns a list of parts; only Markdown ever has more than one, because a PR
comment is limited in size (GitHub: 65536 characters). Markdown is cut only between blocks
(a section, a file's diff); a block too large for one comment is cut between lines and its
code fence is closed and reopened, so every part renders on its own.
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
from gitops.model.findings import Finding
from gitops.report._common import SHOWN_CLUSTERS, cluster_list, group, plural, where as where_text
from gitops.report.markdown import cell, code, rule_changes
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


def _edge_line(e: Edge) -> str:
    why = f": {e.rule + ': ' if e.rule else ''}{e.problem}" if e.problem else ""
    why += f" ({textsafe.name(e.where)})" if e.where else ""
    return f"{textsafe.name(e.caller.label)} -> {textsafe.name(e.target.label)} ({e.url}){why}"


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
    for note, found in _stale(d):
        out.append(paint(_COLOR["-"], f"warning: {note}"))
        out += [f"  {line}" for line in _stale_lines(found)]
    for c in d.clusters:
        out.append(paint(_BOLD, f"{c.cluster}: {counts(c)}"))
        out += [paint(_COLOR[_SIGN[ch.change]], f"  {_SIGN[ch.change]} {ch.change:<8} {textsafe.name(ch.title)}  "
                                                f"{textsafe.name(ch.path)}")
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
    unchanged = sum(e.status == UNCHANGED for e in d.graph.edges)
    out.append(paint(_BOLD, f"call graph across clusters: {plural(len(d.graph.edges), 'edge')}, {unchanged} unchanged"))
    out += [paint(_EDGE_COLOR[e.status], f"  {e.status:<9} {_edge_line(e)}") for e in d.graph.edges
            if e.status != UNCHANGED]
    for c in d.clusters:
        for ch in c.changes:
            out += [_diff_line(line, paint) for line in ch.diff.splitlines()]
    return textsafe.log_lines("\n".join(out) + "\n")


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
        "stale": {"base": [finding_dict(f) for f in d.stale_base], "head": [finding_dict(f) for f in d.stale_head]},
        "findings": {"introduced": [finding_dict(f) for f in d.introduced],
                     "introducedAndWaived": [finding_dict(f) for f in d.findings.introduced_waived],
                     "waivedByThisChange": [finding_dict(f) for f in d.findings.newly_waived],
                     "fixed": [finding_dict(f) for f in d.fixed]},
        "graph": {
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
    """A unit of a comment: heading lines, then either plain lines or the lines of one code fence."""

    head: str
    lines: tuple[str, ...] = ()
    lang: str | None = None  # set: `lines` are the body of a fence in this language

    def fence(self) -> str:
        longest = max((len(m) for line in self.lines for m in re.findall(r"`+", line)), default=0)
        return "`" * max(3, longest + 1)

    def render(self, lines: tuple[str, ...] | None = None, head: str | None = None) -> str:
        body = self.lines if lines is None else lines
        head = self.head if head is None else head
        if self.lang is None:
            return textsafe.log_lines(head + "".join(line + "\n" for line in body))
        fence = self.fence()
        # A comment part printed to a CI log (or the job summary of a fork's run) must start no workflow command.
        return textsafe.log_lines(f"{head}{fence}{self.lang}\n" + "".join(line + "\n" for line in body) + f"{fence}\n")


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


def _same(cluster: str, text: str) -> str:
    """A cluster's path or diff with its own folder name taken out, so fifty identical changes compare equal."""
    return text.replace(f"clusters/{cluster}/", "clusters/<cluster>/") if cluster else text


def _clusters_md(clusters: list[str], total: int) -> str:
    return cell(cluster_list(clusters, total))


def _summary_blocks(d: Diff) -> Iterator[Block]:
    changed = [c for c in d.clusters if c.changes]
    quiet = [c.cluster for c in d.clusters if not c.changes]
    rows = tuple(f"| {cell(c.cluster)} | " + " | ".join(str(len(c.of(k))) for k in _KINDS_OF_CHANGE) + " |"
                 for c in changed)
    if quiet:
        rows += ("", f"No change {cell(cluster_list(quiet, len(d.clusters)))}." if len(quiet) > 1
                 else f"No change in {cell(quiet[0])}.")
    table = "| cluster | added | removed | changed |\n| --- | ---: | ---: | ---: |\n" if changed else ""
    yield Block(f"## GitOps diff\n\nBase {_md(d.base_ref)} ({_md(d.base_commit[:12])}) compared with this change.\n")
    if d.rule_changes is not None:  # first: a rule switched off changes the verdict as much as any finding
        yield Block(f"\n{rule_changes(d.rule_changes)}\n")
    for note, found in _stale(d):
        yield Block(f"\n> :warning: {cell(note)}\n\n", tuple(f"- {code(line)}" for line in _stale_lines(found)))
    yield Block(f"\n{_verdict(d)}\n\n{table}", rows)
    if d.waves and d.changed:
        yield Block(f"\n#### Rollout: {cell(first_wave(d))}\n\n", tuple(f"- {cell(line)}" for line in _wave_lines(d)))
    same: dict[tuple, list[ClusterDiff]] = {}
    for c in d.clusters:
        if c.changes:
            key = tuple((ch.change, ch.title, _same(c.cluster, ch.path)) for ch in c.changes)
            same.setdefault(key, []).append(c)
    for members in same.values():
        c = members[0]
        who = (cell(c.cluster) if len(members) == 1 else
               f"same change {_clusters_md([m.cluster for m in members], len(d.clusters))}")
        yield Block(f"\n#### {who}: {counts(c)}\n\n",
                    tuple(f"- {ch.change}: {_md(ch.title)}" for ch in c.changes))


def _finding_lines(findings: list[Finding], total: int, clusters: list[str], fixed: bool) -> list[str]:
    out = []
    for g in group(findings, clusters):
        f = g.first
        who = cluster_list(g.clusters, total) or "fleet"
        where = "" if fixed else f" ({_md(g.where())})"
        head = f":white_check_mark: fixed {_md(f.rule)}" if fixed else f":new: {_md(f.rule)} {f.severity.value}"
        out.append(f"- {head} in {cell(who)}: {cell(f.message)}{where}")
    return out


def _fix_lines(findings: list[Finding]) -> list[str]:
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


def _findings_block(d: Diff) -> Block:
    clusters = [c.cluster for c in d.clusters]
    lines = _finding_lines(d.introduced, len(clusters), clusters, False)
    lines += _waived_lines(d.findings.introduced_waived, len(clusters), clusters, "introduced and waived by this change")
    lines += _waived_lines(d.findings.newly_waived, len(clusters), clusters, "waived by this change")
    lines += _finding_lines(d.fixed, len(clusters), clusters, True)
    lines += _fix_lines(d.introduced)
    return Block(f"\n### Findings: {d.findings.title()}\n\n",
                 tuple(lines) or ("Nothing introduced, nothing fixed.",))


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
    edges: list[tuple[tuple, tuple, str, int]]  # (from, to, status, how many edges of the graph it stands for)
    left_out: int = 0  # edges not drawn to stay under Mermaid's limit


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

        merged: dict[tuple, int] = {}
        for e in edges:
            k = (caller(e.caller), (clusterset(e.target), title("Service", e.target.namespace, e.target.name)),
                 e.status)
            merged[k] = merged.get(k, 0) + 1
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


def _edge_rows(g: Graph, listed: AbstractSet[tuple[str, str]] = frozenset()) -> list[str]:
    """One row per call that the change adds, removes or breaks: its targets in all exporting clusters together."""
    rows: dict[tuple, list[Edge]] = {}
    for e in g.edges:
        if e.status != UNCHANGED:
            key = (_SEVERITY[e.status], e.caller, e.target.namespace, e.target.name, e.url, e.status)
            rows.setdefault(key, []).append(e)
    out = []
    for (_, caller, ns, name, url, status), edges in sorted(rows.items()):
        e = edges[0]
        targets = [t.target.cluster for t in edges if t.target.cluster]
        target = title("Service", ns, name) + (f" ({len(targets)} clusters)" if len(targets) > 1 else
                                                 f" in {targets[0]}" if targets else " (not exported)")
        if e.rule and (e.rule, e.where) in listed:  # its message is in the findings above: name it, do not repeat it
            why = f"{code(e.rule)} at {code(e.where)}"
        elif e.rule:
            why = f"{code(e.rule)}: {cell(e.problem)} ({code(e.where)})"
        else:
            why = cell(e.problem)
        out.append(f"| {status} | {code(caller.label)} | {cell(target)} | {code(url)} | {why} |")
    return out


def _graph_blocks(g: Graph, budget: int, listed: AbstractSet[tuple[str, str]] = frozenset()) -> Iterator[Block]:
    unchanged = sum(e.status == UNCHANGED for e in g.edges)
    head = (f"\n### Call graph across clusters ({plural(len(g.edges), 'edge')}, "
            f"{unchanged} unchanged)\n\n")
    if not g.nodes:
        yield Block(head, ("No workload calls a `*.svc.clusterset.local` name and nothing is exported.",))
        return
    d = drawing(g)
    note = {"object": "", "namespace": "_Collapsed to clusterset and namespace; only changed edges are drawn._\n\n",
            "clusterset": "_Collapsed to clustersets; only changed edges are drawn._\n\n"}[d.level]
    if d.left_out:
        note += f"_{d.left_out} edges not drawn (Mermaid draws at most {MERMAID_MAX_EDGES}); the table lists them._\n\n"
    chart = Block(head + note, tuple(mermaid(g)), "mermaid")
    if len(chart.render()) <= budget:
        yield chart
    else:  # a diagram cut in two renders as neither; the table below has every changed edge
        yield Block(head + note, ("_The diagram is too large for one comment; every changed edge is in the table below._",))
    rows = tuple(_edge_rows(g, listed))
    if rows:
        yield Block("\n| edge | caller | target | URL | why |\n| --- | --- | --- | --- | --- |\n", rows)
    yield Block("", (f"\n{plural(unchanged, 'unchanged edge')} not listed.",) if unchanged else ())


def _diff_blocks(d: Diff) -> Iterator[Block]:
    if d.changed:
        yield Block("\n### Rendered changes\n")
    same: dict[tuple[str, str, str], list[tuple[str, ObjectChange]]] = {}
    for c in d.clusters:
        for ch in c.changes:
            key = (ch.change, _same(c.cluster, ch.path), _same(c.cluster, ch.diff))
            same.setdefault(key, []).append((c.cluster, ch))
    for (change, path, text), members in same.items():
        if len(members) == 1:  # one cluster: its own path and diff, as they are
            cluster, ch = members[0]
            who, path, text = f"**{cell(cluster)}**", ch.path, ch.diff
        else:
            who = f"**same change {_clusters_md([c for c, _ in members], len(d.clusters))}**"
        yield Block(f"\n{who} {change} {_md(path)}\n\n", tuple(text.splitlines()), "diff")


def _cut(line: str, width: int) -> list[str]:
    return [line[i:i + width] for i in range(0, len(line), width)] or [""]


def split_block(block: Block, budget: int) -> list[str]:
    """The block as one or more texts of at most `budget` characters, cut between lines.

    A fenced block is closed at every cut and reopened, under a "(continued)" heading."""
    whole = block.render()
    if len(whole) <= budget:
        return [whole]
    cont = "_(continued)_\n\n" if block.lang else ""
    overhead = max(len(block.render((), block.head)), len(block.render((), cont)))
    width = budget - overhead - 1
    if width < 20:
        raise UsageError(f"--max-comment-chars {budget} is too small for a heading of {len(block.head)} characters")
    pieces: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in (piece for raw in block.lines for piece in _cut(raw, width)):
        if chunk and size + len(line) + 1 > width:
            pieces.append(block.render(tuple(chunk), block.head if not pieces else cont))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    pieces.append(block.render(tuple(chunk), block.head if not pieces else cont))
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
    blocks = [*_summary_blocks(d), _findings_block(d), *_graph_blocks(d.graph, budget, listed),
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
