"""What a change does: the objects each cluster receives, the findings, and the cross-cluster call graph.

Both revisions go through the same pipeline as `validate`. The base is a `git archive` of REF unpacked
into a temporary folder, so neither the working tree nor .git is touched; the head is the working
tree as it is, uncommitted edits included. The files compared are each revision's committed
clusters/ and bootstrap/, what the sync engines apply (never the build, which a hand edit or a missing
render makes differ: each revision's stale files are reported on their own), with kustomize's
generated name hashes normalised away so that a ConfigMap whose content (and so its hash) changed
reads as a change of one object. Findings and the call graph are of each revision's build; waived
findings are kept, so a finding the change introduces and waives reads as such, never as nothing.

The call graph reads `policies.resolver.verdicts` (the resolver the mcs-* policies report from), so an
edge is broken exactly when a finding says the call is broken. Like the policy registry, `policies`
lives at the repository root and is imported only when a graph is built, so `render` never needs it.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import yaml

from gitops.infra import git, yamlsrc
from gitops.model import calls as resolver
from gitops.model import mcs, pods, textsafe
from gitops.model.baseline import Baseline
from gitops.model.calls import Usage
from gitops.model.engines import wave_text
from gitops.model.causes import Cause, Change, attribute
from gitops.model.errors import InputError
from gitops.model.findings import Finding, ObjectRef, path_text
from gitops.model.inventory import Inventory
from gitops.model.names import GENERATED_HASH, GENERATED_KINDS, object_text
from gitops.model.objects import Objects
from gitops.model.resources import Resource
from gitops.model.rulechanges import RuleChanges
from gitops.model.rules import Policy
from gitops.run import bootstrap, change, inputs, pipeline, render, ruleconfig, rulediff
from gitops.run.context import Run
from gitops.run.stages import stale as stale_stage
from gitops.run.stages.parse import Documents

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
BROKEN, UNCHANGED = "broken", "unchanged"
UNEXPORTED = "unexported"  # a Service node whose ServiceExport went away while the Service stayed
# Rules whose finding on the field that holds a URL means the call does not work: the graph's only verdict.
CALL_RULES = ("mcs-",)
_HASH = GENERATED_HASH  # kustomize's name hash (model/names.py)
HASH_PLACEHOLDER = "{hash}"
_GENERATED_KINDS = GENERATED_KINDS
Normaliser = Callable[[str], str]


title = object_text  # "Kind ns/name", the way findings name objects (model/names.py)


# --- one revision ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedFile:
    """One object as its cluster receives it: a file of clusters/ (or bootstrap/), hash-normalised."""

    path: str
    cluster: str
    kind: str
    namespace: str
    name: str
    text: str


@dataclass(frozen=True, order=True)
class Node:
    """A call-graph node: a workload (or the object holding a URL) or an exported Service.

    `cluster` is "" for the target of a URL that nothing exports (shown as missing)."""

    cluster: str
    kind: str
    namespace: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.cluster or 'not exported'} {title(self.kind, self.namespace, self.name)}"


@dataclass(frozen=True)
class Call:
    """A workload uses a clusterset.local name; `exporters` are the clusters it resolves to (empty: broken)."""

    caller: Node
    namespace: str
    service: str
    clusterset: str
    url: str
    exporters: tuple[str, ...]
    problem: str = ""  # why it does not resolve (the resolver's view; the graph's verdict comes from findings)
    # Where the URL is written: (cluster, kind, namespace, name) and the field, as findings name them.
    source: tuple[str, str, str, str] = ("", "", "", "")
    field: str = ""


@dataclass
class Snapshot:
    """A revision: its committed files by (normalised) path, its build's findings (waived ones too) and
    stale files, calls and exported Services."""

    clusters: list[str]
    files: dict[str, RenderedFile]
    findings: list[Finding]
    calls: dict[tuple[Node, str, str], Call]
    exports: set[Node]
    services: set[Node] = field(default_factory=set)  # every Service, exported or not
    stale: list[Finding] = field(default_factory=list)  # where its committed folders differ from its build


def generated_names(resources: Iterable[Resource]) -> dict[str, str]:
    """{generated name with hash: name with the hash replaced by a placeholder}."""
    out = {}
    for r in resources:
        m = _HASH.match(r.name)
        if r.kind in _GENERATED_KINDS and m:
            out[r.name] = f"{m['base']}-{HASH_PLACEHOLDER}"
    return out


def _unchanged(text: str) -> str:
    return text


def normaliser(names: dict[str, str]) -> Normaliser:
    """A function replacing every whole-word occurrence of a hashed name by its placeholder form."""
    if not names:
        return _unchanged
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
                         + r")(?![\w-])")
    return lambda text: pattern.sub(lambda m: names[m.group(1)], text)


def _owner(path: str, text: str, inv: Inventory, documents: Documents) -> tuple[str, str, str, str]:
    """(cluster, kind, namespace, name) of a committed file: from the object it holds, else from its path
    (a hand edit may leave a file that is no object at all)."""
    parts = path.split("/")
    if parts[0] == bootstrap.CLUSTERS_DIR and len(parts) > 2:
        cluster = parts[1]
    else:
        cluster = bootstrap.owner(inv, path) or bootstrap.BOOTSTRAP_DIR
    kind, _, name = parts[-1].removesuffix(".yaml").partition("-")
    namespace = parts[2] if parts[0] == bootstrap.CLUSTERS_DIR and len(parts) > 3 and parts[2] != "_cluster" else ""
    header, _, doc = text.partition("\n") if text.startswith("#") else ("", "", text)
    try:
        yamlsrc.check_expansion(doc, path)
        body = documents.load(doc)
    except (InputError, yaml.YAMLError, RecursionError, ValueError):  # not an object (a hand edit): its path names it
        body = None
    meta = body.get("metadata") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("kind"), str) and isinstance(meta, dict) \
            and isinstance(meta.get("name"), str):
        kind, name = body["kind"], meta["name"]
        written = meta.get("namespace")
        namespace = written if isinstance(written, str) else namespace
    return cluster, kind, namespace or "", name


def committed_files(inv: Inventory, committed: dict[str, str]) -> dict[str, RenderedFile]:
    """Every committed file of clusters/ and bootstrap/, keyed by its path with generated hashes normalised."""
    documents = Documents()
    owners = {path: _owner(path, text, inv, documents) for path, text in committed.items()}
    norm = normaliser({name: f"{m['base']}-{HASH_PLACEHOLDER}" for _, kind, _, name in owners.values()
                       if kind in _GENERATED_KINDS and (m := _HASH.match(name))})
    out = {}
    for path, (cluster, kind, namespace, name) in owners.items():
        normal = norm(name)
        key = path.removesuffix(f"-{name}.yaml") + f"-{normal}.yaml" if normal != name and \
            path.endswith(f"-{name}.yaml") else path
        out[key] = RenderedFile(key, cluster, kind, namespace, normal, norm(committed[path]))
    return out


def _consumers(objects: Objects) -> dict[tuple[str, str, str], list[tuple[Resource, str | None]]]:
    """Who reads each ConfigMap, by (cluster, namespace, name), indexed once."""
    index: dict[tuple[str, str, str], list[tuple[Resource, str | None]]] = defaultdict(list)
    for r, prefix, spec in pods.pod_specs(objects):
        for ref in pods.configmap_refs(spec, prefix):
            index[(r.cluster, r.namespace, ref.name)].append((r, ref.key))
    return dict(index)


def _node(r: Resource) -> Node:
    return Node(r.cluster, r.kind, r.namespace, r.name)


def _callers(use: Usage, consumers: dict[tuple[str, str, str], list[tuple[Resource, str | None]]],
             norm: Normaliser) -> list[Node]:
    """The workloads behind a usage: a ConfigMap's readers of that key (the ConfigMap itself when none)."""
    r = use.resource
    if r.kind == "ConfigMap":
        key = use.path[1] if len(use.path) > 1 else None
        readers = {_node(w) for w, k in consumers.get((r.cluster, r.namespace, r.name), ()) if k in (None, key)}
        if readers:
            return sorted(readers)
    return [Node(r.cluster, r.kind, r.namespace, norm(r.name))]


def calls(objects: Objects, norm: Normaliser = _unchanged,
          address_keys: tuple[str, ...] | None = None) -> dict[tuple[Node, str, str], Call]:
    """Every clusterset call and every broken call, from the resolver's verdicts (the findings' source)."""
    consumers = _consumers(objects)
    out: dict[tuple[Node, str, str], Call] = {}
    for v in resolver.verdicts(objects, address_keys or resolver.ADDRESS_KEYS):
        if v.ok and v.kind != resolver.CLUSTERSET:
            continue  # external, or a Service of the caller's own cluster
        clusterset = objects.cluster(v.cluster).clusterset
        exporters = v.clusters if v.ok else ()
        ns, svc = (v.namespace, v.service) if v.service else ("", v.host)  # a name that names no Service
        r = v.use.resource  # where the URL is written: how the graph finds the finding that judges the call
        source = (r.cluster, r.kind, r.namespace, norm(r.name))
        for caller in _callers(v.use, consumers, norm):
            out.setdefault((caller, ns, svc), Call(caller, ns, svc, clusterset, v.use.ref.text, exporters, v.reason,
                                                   source, path_text(v.use.path)))
    return out


def exported_services(objects: Objects) -> set[Node]:
    return {Node(e.cluster, "Service", ns, name)
            for (_, ns, name), items in mcs.exports_by_name(objects).items() for e in items}


def snapshot(run: Run, e2e_rules: Iterable[str] = ()) -> Snapshot:
    """Validate the tree at `run.root` (the one sequencer's validate plan) and read its committed clusters/ and
    bootstrap/: the files compared are what the sync engines apply, the stale findings say where they differ
    from the build."""
    root, policies = run.root, run.policies
    run.options = replace(run.options, check_stale=True)
    result = pipeline.execute(run, inputs.default(run), pipeline.validate_plan(e2e_rules))
    objects = run.objects(result.resources)
    norm = normaliser(generated_names(objects.all()))
    stale = [f for f in result.findings if f.rule == stale_stage.STALE.id]
    findings = [_normalised_finding(f, norm) for f in result.findings]  # stale ones too: errors like any other
    return Snapshot([c.name for c in result.inventory.clusters],
                    committed_files(result.inventory, render.on_disk(root)),
                    findings, calls(objects, norm, _address_keys(policies)), exported_services(objects),
                    {Node(r.cluster, "Service", r.namespace, r.name) for r in objects.of_kind("Service")}, stale)


def _address_keys(policies: tuple[Policy, ...]) -> tuple[str, ...] | None:
    """The address-key patterns the policies are configured with (policies/config.yaml), for the graph."""
    for p in policies:
        if "addressKeys" in p.settings:
            return tuple(p.settings["addressKeys"])
    return None


def _normalised_finding(f: Finding, norm: Normaliser) -> Finding:
    obj = f.obj and ObjectRef(f.obj.api_version, f.obj.kind, f.obj.namespace, norm(f.obj.name))
    return replace(f, message=norm(f.message), obj=obj)


# --- comparing two revisions -------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectChange:
    """One object added to, removed from or changed in a cluster, with the unified diff of its file."""

    cluster: str
    path: str
    kind: str
    namespace: str
    name: str
    change: str
    diff: str

    @property
    def title(self) -> str:
        return title(self.kind, self.namespace, self.name)


@dataclass
class ClusterDiff:
    cluster: str
    changes: list[ObjectChange] = field(default_factory=list)

    def of(self, change: str) -> list[ObjectChange]:
        return [c for c in self.changes if c.change == change]


@dataclass(frozen=True)
class Edge:
    """A call-graph edge and what the change does to it; `problem` says why a broken edge does not resolve."""

    caller: Node
    target: Node
    url: str
    status: str
    problem: str = ""
    rule: str = ""  # the finding that breaks it
    where: str = ""  # that finding's source line (the line to fix)
    source: tuple[str, ...] = ()  # where the URL is written (cluster, kind, namespace, name, field): its call

    def __post_init__(self) -> None:
        # The URL is a value from the repository, shown in every format: masked, bounded, escaped (textsafe).
        object.__setattr__(self, "url", textsafe.one_line(self.url))
        object.__setattr__(self, "problem", textsafe.shown(self.problem))

    @property
    def call(self) -> tuple:
        """The call this edge is one target of: one per object and field holding the URL and Service it names, as
        the findings count calls (a call to a Service exported by 25 clusters is 25 edges and one call)."""
        return (self.source or (self.caller,)) + (self.target.namespace, self.target.name, self.url)


_WORST_FIRST = (BROKEN, REMOVED, ADDED, UNCHANGED)


@dataclass
class Graph:
    nodes: dict[Node, str]  # node -> added | removed | unchanged | unexported | broken (a target nothing exports)
    edges: list[Edge]
    clustersets: dict[str, str] = field(default_factory=dict)  # cluster -> its clusterset

    def calls(self) -> Counter[str]:
        """How many calls each status has, a call counted once (Edge.call): broken when any of its edges is, else
        removed, else added, else unchanged."""
        worst: dict[tuple, str] = {}
        for e in self.edges:
            was = worst.get(e.call)
            if was is None or _WORST_FIRST.index(e.status) < _WORST_FIRST.index(was):
                worst[e.call] = e.status
        return Counter(worst.values())


@dataclass
class Findings:
    """What the change does to the findings. A finding that is new and waived is `introduced_waived`
    (introduced and waived by this change), one that counted before and is waived now `newly_waived`;
    neither is ever "fixed", nor left out of the number introduced."""

    introduced: list[Finding] = field(default_factory=list)  # new, and counting
    introduced_waived: list[Finding] = field(default_factory=list)
    newly_waived: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)

    def title(self) -> str:
        """"2 introduced (1 of them waived by this change), 1 waived by this change, 0 fixed"."""
        text = f"{len(self.introduced) + len(self.introduced_waived)} introduced"
        if self.introduced_waived:
            text += f" ({len(self.introduced_waived)} of them waived by this change)"
        if self.newly_waived:
            text += f", {len(self.newly_waived)} waived by this change"
        return text + f", {len(self.fixed)} fixed"


@dataclass
class Wave:
    """One rollout wave of the diff: its clusters that receive a change and those that do not, and the revision
    its Config Sync clusters follow when the inventory gives the wave its own (`repository.revisions`)."""

    wave: int | None
    changed: list[str]
    unchanged: list[str]
    revision: str | None = None  # None: the repository's revision, which a merge reaches at once

    @property
    def title(self) -> str:
        return wave_text(self.wave)


@dataclass
class Diff:
    base_ref: str
    base_commit: str
    clusters: list[ClusterDiff]
    findings: Findings
    graph: Graph
    stale_base: list[Finding] = field(default_factory=list)  # the base's committed folders vs its sources
    stale_head: list[Finding] = field(default_factory=list)  # the working tree's, likewise
    rule_changes: RuleChanges | None = None
    waves: list[Wave] = field(default_factory=list)  # the rollout order, when the inventory has waves
    change: Change | None = None  # the lines the working tree changed since the base: the introduced findings' causes

    def causes(self) -> tuple[list[Cause], list[Finding]]:
        """(the changed lines that cause introduced findings, the introduced findings no changed line explains)."""
        return attribute(self.introduced, self.change)

    @property
    def introduced(self) -> list[Finding]:
        return self.findings.introduced

    @property
    def fixed(self) -> list[Finding]:
        return self.findings.fixed

    @property
    def changed(self) -> bool:
        return any(c.changes for c in self.clusters)


def unified(path: str, old: str | None, new: str | None) -> str:
    """A `git diff`-like unified diff of one file; /dev/null for the side that does not exist.

    Each line is shown as findings are (textsafe.shown): a credential in a URL masked, a long value cut,
    control characters escaped. The files are compared as they are, so a change of a password alone
    shows as a - and a + line that read the same."""
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
                                 fromfile=f"a/{path}" if old is not None else "/dev/null",
                                 tofile=f"b/{path}" if new is not None else "/dev/null")
    return "".join(textsafe.shown(line.rstrip("\n")) + "\n" for line in lines)


def compare_files(clusters: list[str], base: dict[str, RenderedFile],
                  head: dict[str, RenderedFile]) -> list[ClusterDiff]:
    """Per cluster (inventory order), every object added, removed or changed, by path."""
    out = {c: ClusterDiff(c) for c in clusters}
    for path in sorted(set(base) | set(head)):
        old, new = base.get(path), head.get(path)
        if old is not None and new is not None and old.text == new.text:
            continue
        change = ADDED if old is None else REMOVED if new is None else CHANGED
        f = new or old
        assert f is not None
        out.setdefault(f.cluster, ClusterDiff(f.cluster)).changes.append(ObjectChange(
            f.cluster, path, f.kind, f.namespace, f.name, change,
            unified(path, old.text if old else None, new.text if new else None)))
    return list(out.values())


def _finding_key(f: Finding) -> tuple:
    """Findings match by rule, cluster, object and message: not by line, since lines move."""
    return (f.rule, f.cluster or "", str(f.obj or ""), f.message)


def compare_findings(base: list[Finding], head: list[Finding]) -> Findings:
    """Findings matched by key, each occurrence counted; waived and counting ones told apart."""
    def counter(findings: list[Finding], counting: bool) -> Counter:
        return Counter(_finding_key(f) for f in findings if f.counts is counting)

    bc, bw, hc, hw = counter(base, True), counter(base, False), counter(head, True), counter(head, False)
    wanted: dict[str, Counter] = {"introduced": Counter(), "newly_waived": Counter(), "introduced_waived": Counter(),
                                  "fixed": Counter()}
    for k in set(bc) | set(bw) | set(hc) | set(hw):
        extra_waived = max(0, hw[k] - bw[k])
        from_counting = min(extra_waived, max(0, bc[k] - hc[k]))  # counted in the base, waived now
        wanted["introduced"][k] = max(0, hc[k] - bc[k])
        wanted["newly_waived"][k] = from_counting
        wanted["introduced_waived"][k] = extra_waived - from_counting
        wanted["fixed"][k] = max(0, bc[k] - hc[k] - from_counting)

    def pick(findings: list[Finding], *names: str) -> list[list[Finding]]:
        out: list[list[Finding]] = [[] for _ in names]
        for f in findings:
            k = _finding_key(f)
            for i, name in enumerate(names):
                if wanted[name][k] > 0:
                    wanted[name][k] -= 1
                    out[i].append(f)
                    break
        return out

    [introduced] = pick([f for f in head if f.counts], "introduced")
    newly_waived, introduced_waived = pick([f for f in head if not f.counts], "newly_waived", "introduced_waived")
    [fixed] = pick([f for f in base if f.counts], "fixed")
    return Findings(introduced, introduced_waived, newly_waived, fixed)


def _held(call: Call) -> tuple[str, ...]:
    """Where the call's URL is written, as an edge's `source`: (cluster, kind, namespace, name, field)."""
    return (*call.source, call.field)


def _missing(call: Call) -> Node:
    return Node("", "Service", call.namespace, call.service)


def call_findings(findings: Iterable[Finding]) -> dict[tuple, Finding]:
    """The findings that judge a call, by where the URL is written: (cluster, kind, namespace, name, field).

    An edge is broken exactly when one of these exists, whichever resolver produced the calls: the
    graph and the findings section can never disagree."""
    out: dict[tuple, Finding] = {}
    for f in findings:
        if f.rule.startswith(CALL_RULES) and f.obj is not None and f.cluster:
            out.setdefault((f.cluster, f.obj.kind, f.obj.namespace, f.obj.name, f.field_path or ""), f)
    return out


def _verdict(call: Call, judged: dict[tuple, Finding]) -> Finding | None:
    return judged.get((*call.source, call.field))


def _edges_of(old: Call | None, new: Call | None, judged: dict[tuple, Finding]) -> Iterator[Edge]:
    """The edges of one (caller, namespace, service) use in base and head."""
    def to(cluster: str, call: Call) -> Node:
        return Node(cluster, "Service", call.namespace, call.service)

    finding = _verdict(new, judged) if new is not None else None
    if finding is not None:
        assert new is not None
        exporters = new.exporters or (old.exporters if old else ())
        for target in [to(exp, new) for exp in exporters] or [_missing(new)]:
            yield Edge(new.caller, target, new.url, BROKEN, finding.message, finding.rule, finding.where(),
                       _held(new))
        return
    if new is not None:
        for exp in new.exporters:
            yield Edge(new.caller, to(exp, new), new.url, UNCHANGED if old and exp in old.exporters else ADDED,
                       source=_held(new))
        if not new.exporters:  # nothing resolves it, yet no finding says so (e.g. waived): not called broken
            yield Edge(new.caller, _missing(new), new.url, UNCHANGED if old else ADDED, new.problem, source=_held(new))
        for exp in (old.exporters if old else ()):
            if old is not None and exp not in new.exporters:
                yield Edge(old.caller, to(exp, old), old.url, REMOVED, source=_held(old))
    elif old is not None:
        for target in [to(exp, old) for exp in old.exporters] or [_missing(old)]:
            yield Edge(old.caller, target, old.url, REMOVED, source=_held(old))


def compare_graph(base: Snapshot, head: Snapshot) -> Graph:
    """Edges of both revisions with their status; nodes are callers and exported Services of either.

    A Service that lost only its ServiceExport is `unexported`, not removed: it still runs."""
    judged = call_findings(f for f in head.findings if f.counts)
    edges = [e for key in sorted(set(base.calls) | set(head.calls))
             for e in _edges_of(base.calls.get(key), head.calls.get(key), judged)]
    before = base.exports | {c.caller for c in base.calls.values()}
    after = head.exports | {c.caller for c in head.calls.values()}
    nodes = {n: UNCHANGED if n in before and n in after else ADDED if n in after
             else UNEXPORTED if n in head.services else REMOVED
             for n in sorted(before | after)}
    for e in edges:
        nodes.setdefault(e.target, BROKEN)
    clustersets = {cluster: c.clusterset for snap in (base, head) for c in snap.calls.values()
                   for cluster in (c.caller.cluster, *c.exporters)}
    return Graph(nodes, edges, clustersets)


def rollout(inv: Inventory, baseline: Baseline | None, clusters: list[ClusterDiff]) -> list[Wave]:
    """The clusters by wave, in rollout order (a removed cluster in its base wave), when any cluster has a wave;
    bootstrap/ changes stay with the cluster that applies them."""
    waves: dict[int | None, Wave] = {}
    for c in clusters:
        known = next((k for k in inv.clusters if k.name == c.cluster), None)
        base = baseline.cluster(c.cluster) if baseline is not None else None
        wave = known.wave if known is not None else base.wave if base is not None else None
        if known is None and base is None:
            continue  # not a cluster (bootstrap/ files no cluster applies)
        own = inv.repository.revisions.get(wave) if wave is not None else None
        row = waves.setdefault(wave, Wave(wave, [], [], own if own != inv.repository.revision else None))
        (row.changed if c.changes else row.unchanged).append(c.cluster)
    if all(w is None for w in waves):
        return []
    return [waves[w] for w in sorted(waves, key=lambda w: (w is None, w or 0))]


def compare(base: Snapshot, head: Snapshot, base_ref: str = "", base_commit: str = "") -> Diff:
    clusters = list(dict.fromkeys(head.clusters + base.clusters))
    return Diff(base_ref, base_commit, compare_files(clusters, base.files, head.files),
                compare_findings(base.findings, head.findings), compare_graph(base, head), base.stale, head.stale)


def run(head_run: Run, config: ruleconfig.Config, ref: str | None, e2e_rules: Iterable[str] = ()) -> Diff:
    """Compare REF (default: merge base with main) with the working tree at `head_run.root`, rule changes first.

    The head's policies judge both revisions, so the findings delta is what the change does, not a rule
    change (those are listed on their own); each revision keeps its own waivers, the base's unlimited."""
    root = head_run.root
    name, commit = git.resolve_base(root, ref)
    with git.checkout(root, commit) as base_root:
        base_run = Run(base_root, replace(head_run.options, waiver_days=None), head_run.policies,
                       head_run.settings, head_run.listed)
        base = snapshot(base_run, e2e_rules)
    head_run.base = git.Base(name, commit)  # what the head's destructive-change rule compares with: this base
    head = snapshot(head_run, e2e_rules)
    d = compare(base, head, name, commit)
    d.rule_changes = rulediff.compare(root, name, commit, config, head_run.registry(), head.findings)
    d.waves = rollout(head_run.inventory, head_run.baseline, d.clusters)
    d.change = change.since(root, git.Base(name, commit))
    return d
