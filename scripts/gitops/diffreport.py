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
from typing import Callable, Iterator

from .diff import ADDED, BROKEN, CHANGED, REMOVED, UNCHANGED, ClusterDiff, Diff, Edge, Graph, Node, title
from .errors import UsageError
from .findings import Finding
from .report._common import plural
from .report.json import finding_dict

MARKER = "<!-- gitops-diff part {i} -->"
DEFAULT_MAX_CHARS = 65536
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
    return f"base {d.base_ref} ({d.base_commit[:12]}) -> head (working tree)"


def _finding_line(f: Finding) -> str:
    return f"{f.severity.value} {f.rule}: {f.message} ({f.where()})"


def _edge_line(e: Edge) -> str:
    why = f": {e.problem}" if e.problem else ""
    return f"{e.caller.label} -> {e.target.label} ({e.url}){why}"


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
    for c in d.clusters:
        out.append(paint(_BOLD, f"{c.cluster}: {counts(c)}"))
        out += [paint(_COLOR[_SIGN[ch.change]], f"  {_SIGN[ch.change]} {ch.change:<8} {ch.title}  {ch.path}")
                for ch in c.changes]
    out.append(paint(_BOLD, f"findings: {len(d.introduced)} introduced, {len(d.fixed)} fixed"))
    out += [paint(_COLOR["+"], f"  + {_finding_line(f)}") for f in d.introduced]
    out += [paint(_COLOR["-"], f"  - {_finding_line(f)}") for f in d.fixed]
    out.append(paint(_BOLD, f"call graph across clusters: {plural(len(d.graph.edges), 'edge')}"))
    out += [paint(_EDGE_COLOR[e.status], f"  {e.status:<9} {_edge_line(e)}") for e in d.graph.edges]
    for c in d.clusters:
        for ch in c.changes:
            out += [_diff_line(line, paint) for line in ch.diff.splitlines()]
    return "\n".join(out) + "\n"


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
        "findings": {"introduced": [finding_dict(f) for f in d.introduced],
                     "fixed": [finding_dict(f) for f in d.fixed]},
        "graph": {
            "nodes": [{"id": _node_id(n), "cluster": n.cluster or None, "kind": n.kind, "namespace": n.namespace,
                       "name": n.name, "status": s} for n, s in d.graph.nodes.items()],
            "edges": [{"from": _node_id(e.caller), "to": _node_id(e.target), "url": e.url, "status": e.status,
                       "problem": e.problem or None} for e in d.graph.edges],
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


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
            return head + "".join(line + "\n" for line in body)
        fence = self.fence()
        return f"{head}{fence}{self.lang}\n" + "".join(line + "\n" for line in body) + f"{fence}\n"


def _md(s: str) -> str:
    """Inline code, safe for any backticks in `s`."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def _summary_blocks(d: Diff) -> Iterator[Block]:
    verdict = (f"{plural(sum(bool(c.changes) for c in d.clusters), 'cluster')} of {len(d.clusters)} receive changes."
               if d.changed else "No cluster receives a change.")
    yield Block(f"## GitOps diff\n\nBase {_md(d.base_ref)} ({_md(d.base_commit[:12])}) compared with this change. "
                f"{verdict}\n\n| cluster | added | removed | changed |\n| --- | ---: | ---: | ---: |\n",
                tuple(f"| {c.cluster} | " + " | ".join(str(len(c.of(k))) for k in _KINDS_OF_CHANGE) + " |"
                      for c in d.clusters))
    for c in d.clusters:
        if c.changes:
            yield Block(f"\n#### {c.cluster}: {counts(c)}\n\n",
                        tuple(f"- {ch.change}: {_md(ch.title)}" for ch in c.changes))


def _findings_block(d: Diff) -> Block:
    lines = [f"- :new: {_md(f.rule)} {f.severity.value} in {f.cluster or 'fleet'}: {f.message} ({_md(f.where())})"
             for f in d.introduced]
    lines += [f"- :white_check_mark: fixed {_md(f.rule)} in {f.cluster or 'fleet'}: {f.message}" for f in d.fixed]
    return Block(f"\n### Findings: {len(d.introduced)} introduced, {len(d.fixed)} fixed\n\n",
                 tuple(lines) or ("Nothing introduced, nothing fixed.",))


_ARROW = {ADDED: "==>", REMOVED: "-.->", BROKEN: "-.-x", UNCHANGED: "-->"}
_LINK_STYLE = {ADDED: "stroke:#1a7f37,stroke-width:3px", REMOVED: "stroke:#8c959f,stroke-dasharray:4 4",
               BROKEN: "stroke:#cf222e,stroke-width:3px", UNCHANGED: "stroke:#57606a"}
_NODE_CLASS = {ADDED: "fill:#dafbe1,stroke:#1a7f37", REMOVED: "fill:#eaeef2,stroke:#8c959f,stroke-dasharray:4 4",
               BROKEN: "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4 4"}


def _label(s: str) -> str:
    return s.replace('"', "#quot;")


def mermaid(g: Graph) -> list[str]:
    """A Mermaid `flowchart LR`: one subgraph per cluster; edge and node styles say what the change does."""
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = ["flowchart LR"]
    for i, cluster in enumerate(dict.fromkeys(n.cluster for n in g.nodes)):
        lines.append(f'  subgraph c{i}["{_label(cluster or "not exported")}"]')
        lines += [f'    {ids[n]}["{_label(title(n.kind, n.namespace, n.name))}"]'
                  for n in g.nodes if n.cluster == cluster]
        lines.append("  end")
    for e in g.edges:
        lines.append(f"  {ids[e.caller]} {_ARROW[e.status]}|{e.status}| {ids[e.target]}")
    for status, style in _NODE_CLASS.items():
        members = [ids[n] for n, s in g.nodes.items() if s == status]
        if members:
            lines += [f"  classDef {status} {style}", f"  class {','.join(members)} {status}"]
    for status, style in _LINK_STYLE.items():
        indexes = [str(i) for i, e in enumerate(g.edges) if e.status == status]
        if indexes:
            lines.append(f"  linkStyle {','.join(indexes)} {style}")
    return lines


def _graph_blocks(g: Graph, budget: int) -> Iterator[Block]:
    head = f"\n### Call graph across clusters ({plural(len(g.edges), 'edge')})\n\n"
    if not g.nodes:
        yield Block(head, ("No workload calls a `*.svc.clusterset.local` name and nothing is exported.",))
        return
    chart = Block(head, tuple(mermaid(g)), "mermaid")
    if len(chart.render()) <= budget:
        yield chart
    else:  # a diagram cut in two renders as neither; the table below has every edge
        yield Block(head, ("_The diagram is too large for one comment; every edge is in the table below._",))
    rows = tuple(f"| {e.status} | {_md(e.caller.label)} | {_md(e.target.label)} | {_md(e.url)} | {e.problem} |"
                 for e in g.edges)
    if rows:
        yield Block("\n| edge | caller | target | URL | problem |\n| --- | --- | --- | --- | --- |\n", rows)


def _diff_blocks(d: Diff) -> Iterator[Block]:
    if d.changed:
        yield Block("\n### Rendered changes\n")
    for c in d.clusters:
        for ch in c.changes:
            yield Block(f"\n**{c.cluster}** {ch.change} {_md(ch.path)}\n\n", tuple(ch.diff.splitlines()), "diff")


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


def markdown(d: Diff, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Comment bodies, each at most `max_chars` characters and headed "part i/n" with a hidden marker."""
    if max_chars < MIN_MAX_CHARS:
        raise UsageError(f"--max-comment-chars must be at least {MIN_MAX_CHARS}, not {max_chars}")
    budget = max_chars - len(_header(10**6, 10**6))
    blocks = [*_summary_blocks(d), _findings_block(d), *_graph_blocks(d.graph, budget), *_diff_blocks(d)]
    bodies: list[str] = []
    for piece in (p for b in blocks for p in split_block(b, budget)):
        if bodies and len(bodies[-1]) + len(piece) <= budget:
            bodies[-1] += piece
        else:
            bodies.append(piece)
    return [_header(i, len(bodies)) + body for i, body in enumerate(bodies, 1)]


FORMATS = ("text", "markdown", "json")


def render(fmt: str, d: Diff, color: bool = False, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """The output of one format as parts (one, except Markdown too long for one comment)."""
    if fmt == "markdown":
        return markdown(d, max_chars)
    if fmt == "json":
        return [as_json(d)]
    return [text(d, color)]
