"""Past one machine: `validate --shard K/N` and `merge PARTIALS...`.

Rendering and schema-checking are per cluster, so a CI matrix of N jobs can split them: shard K
builds, schema-checks and stale-checks every N-th cluster of the inventory (clusters K, K+N, ...)
and writes a partial result file. The cross-cluster policies need every cluster at once, so
`merge` reads all N partials, rebuilds the fleet from the documents they carry, runs every
policy and the waivers, and reports exactly as validate does.

A partial is untrusted input (an artifact another job uploaded): merge reads it within a size limit
(a regular file only: never a FIFO or a device), checks its structure, that the N shards are all
there once each and that N is at most the inventory's cluster count, and that it was made from this
very tree: each partial records the digests of every input its run read (inputs.py: inventory, its
clusters' kustomization closures and committed folders, bootstrap/, policies/, lock, schemas/, the
tooling), which merge computes again from its own checkout. Anything else stops it with a clear error
naming the file (exit 2).
"""
from __future__ import annotations

import json
import os
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gitops.run import bootstrap, cache as vcache, fingerprint as inputs_mod, pipeline
from gitops.run.stages import build, policies as engine
from gitops.model import inventory, names
from gitops.infra import yamlsrc
from gitops.model.errors import InputError, UsageError
from gitops.model.findings import Finding, ObjectRef, Related, Severity, SourceLocation
from gitops.infra.fsio import read_bounded, write_atomic
from gitops.model.inventory import Inventory
from gitops.run.stages.parse import Documents
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy
from gitops.report.json import finding_dict

FORMAT = "gitops-partial/2"
_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
# What a shard reports; every other finding (the policies', the waivers') is merge's to make.
SHARD_RULES = (pipeline.SCHEMA.id, pipeline.UNKNOWN_KIND.id, pipeline.STALE.id, names.NAME.id)


def max_partial_bytes() -> int:
    """Largest partial result merge reads (GITOPS_MAX_PARTIAL_BYTES); a 1,000-cluster fleet's shard is ~30 MB."""
    return int(os.environ.get("GITOPS_MAX_PARTIAL_BYTES", str(512 * 1024 * 1024)))


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N), 1 <= K <= N."""
    m = _SHARD.match(text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N, such as 2/4")
    return int(m.group(1)), int(m.group(2))


def check_count(inv: Inventory, shards: int) -> None:
    """N shards of at most as many clusters as the inventory has: more would be empty shards to run and merge."""
    if shards > len(inv.clusters):
        raise UsageError(f"--shard K/N: N is {shards}, more than the {len(inv.clusters)} cluster(s) of inventory.yaml; "
                         "give at most one shard per cluster")


def members(inv: Inventory, shard: int, shards: int) -> list[str]:
    """The clusters of one shard: every N-th of the inventory, starting at the K-th (sizes differ by
    at most one, and a fleet's clustersets are spread over all shards)."""
    return [c.name for i, c in enumerate(inv.clusters) if i % shards == shard - 1]


def run(root: Path, options: pipeline.Options, shard: int, shards: int) -> dict[str, Any]:
    """Build, schema-check, name-check and stale-check one shard's clusters; return its partial result."""
    check_count(inventory.load(root), shards)
    inv, kz = pipeline._prepare(root, options.kustomize_cli)
    names = members(inv, shard, shards)
    clusters = [inv.cluster(n) for n in names]
    store = vcache.Cache(root, pipeline.cache_dir(root)) if options.cache else None
    resources = (store.render(kz, inv, options.workers, clusters) if store is not None
                 else build.build_all(kz, clusters, root, options.workers))
    findings: list[Finding] = []
    sources = pipeline.source_map(root, inv, kz, resources, options.workers)
    with ExitStack() as stack:
        to_check = {c: list(items) for c, items in resources.items()}
        if shard == 1:  # bootstrap objects once, in the first shard
            for res in bootstrap.objects(inv).values():
                to_check.setdefault(res.cluster, []).append(res)
        problems = pipeline.schema_started(stack, root, inv, to_check, options, store)
        findings += pipeline.name_findings(resources, sources)
        if options.check_stale:  # bootstrap/ and the folders the inventory lacks: the first shard's
            findings += [f for f in pipeline.stale_findings(root, inv, resources, names)
                         if shard == 1 or f.cluster in resources]
        findings += pipeline._schema_findings(problems(), sources)
    return {"format": FORMAT, "shard": shard, "shards": shards,
            "inputs": inputs_mod.Inputs(root, inv).digests(names),
            "clusters": {name: [vcache.document_text(r) for r in resources[name]] for name in names},
            "findings": [finding_dict(f) for f in findings]}


def write(path: Path, partial: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(partial, ensure_ascii=False, separators=(",", ":")) + "\n")


# -- merge -------------------------------------------------------------------------------------

class _Bad(Exception):
    pass


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise _Bad(what)


def _str(v: Any, what: str, optional: bool = False) -> Any:
    _need(isinstance(v, str) or (optional and v is None), f"{what} must be a string")
    return v


def _int(v: Any, what: str) -> int:
    _need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{what} must be a non-negative integer")
    return v


def _location(d: Any, what: str) -> SourceLocation:
    _need(isinstance(d, dict), f"{what} must be an object")
    return SourceLocation(_str(d.get("path"), f"{what}.path"), _int(d.get("line"), f"{what}.line"),
                          _int(d.get("column", 1), f"{what}.column"))


def _finding(d: Any, what: str) -> Finding:
    _need(isinstance(d, dict), f"{what} must be an object")
    try:
        severity = Severity(d.get("severity"))
    except ValueError:
        raise _Bad(f"{what}.severity must be error, warning or notice") from None
    obj = d.get("object")
    ref = None
    if obj is not None:
        _need(isinstance(obj, dict), f"{what}.object must be an object")
        ref = ObjectRef(*(_str(obj.get(k), f"{what}.object.{k}") for k in ("apiVersion", "kind", "namespace", "name")))
    related = d.get("related", [])
    _need(isinstance(related, list), f"{what}.related must be a list")
    extra = d.get("extra", {})
    _need(isinstance(extra, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()),
          f"{what}.extra must map strings to strings")
    _need(d.get("waived") is None, f"{what}.waived must be null (waivers are applied by merge)")
    return Finding(_str(d.get("rule"), f"{what}.rule"), severity, _str(d.get("message"), f"{what}.message"),
                   _str(d.get("cluster"), f"{what}.cluster", optional=True), ref,
                   _str(d.get("fieldPath"), f"{what}.fieldPath", optional=True), _str(d.get("fix", ""), f"{what}.fix"),
                   None if d.get("location") is None else _location(d["location"], f"{what}.location"),
                   None,
                   tuple(Related(_location(r, f"{what}.related[{i}]"), _str(r.get("note"), f"{what}.related[{i}].note"))
                         for i, r in enumerate(related)),
                   dict(extra))


_SHOWN = {"inventory": "inventory.yaml", "sources": "overlay sources", "rendered": "clusters/ and bootstrap/",
          "policies": "policies/", "schemas": "crds.lock.yaml and schemas/", "tools": "tooling"}


def _read(path: Path) -> Any:
    """The partial's JSON: a regular file within the size limit, nested no deeper than the parser can take."""
    data = read_bounded(path, str(path), max_partial_bytes(), "GITOPS_MAX_PARTIAL_BYTES")
    try:
        return json.loads(data)
    except RecursionError:
        raise InputError("not a partial result: its JSON is nested too deep", str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a partial result (not JSON: {exc})", str(path)) from None


def _documents(name: str, texts: Any, shown: str, documents: Documents) -> list[Resource]:
    _need(isinstance(texts, list), f"clusters.{name} must be a list of documents")
    items = []
    for i, text in enumerate(texts):
        _str(text, f"clusters.{name}[{i}]")
        try:
            yamlsrc.check_expansion(text, shown)  # libyaml recurses on the C stack: a deep document would crash it
            body = documents.load(text)
        except InputError as exc:
            raise _Bad(f"clusters.{name}[{i}]: {exc.message}") from None
        except Exception as exc:  # yaml.YAMLError and the like: a damaged document
            raise _Bad(f"clusters.{name}[{i}] is not a YAML object: {exc.__class__.__name__}") from None
        _need(isinstance(body, dict), f"clusters.{name}[{i}] is not a YAML object")
        items.append(Resource(name, body, text=text))
    return items


def _load(path: Path, inv: Inventory, tree: inputs_mod.Inputs, documents: Documents
          ) -> tuple[int, int, dict[str, list[Resource]], list[Finding]]:
    data = _read(path)
    try:
        _need(isinstance(data, dict), "the file must hold a JSON object")
        _need(data.get("format") == FORMAT, f"format must be {FORMAT!r} (made by `gitops validate --shard K/N` "
              "of this tooling)")
        shard, shards = _int(data.get("shard"), "shard"), _int(data.get("shards"), "shards")
        _need(1 <= shard <= shards, "shard must be between 1 and shards")
        _need(shards <= len(inv.clusters), f"shards is {shards}, more than the {len(inv.clusters)} cluster(s) "
              "of inventory.yaml")
        expected = members(inv, shard, shards)
        recorded, here = data.get("inputs"), tree.digests(expected)
        _need(isinstance(recorded, dict), "inputs must be an object (the digests of what the shard read)")
        differ = [_SHOWN[g] for g in inputs_mod.GROUPS if recorded.get(g) != here[g]]
        _need(not differ, f"it was made from another tree (these inputs differ from this checkout's: "
              f"{', '.join(differ)}); run every shard and the merge on the same commit, with the same tooling")
        clusters = data.get("clusters")
        _need(isinstance(clusters, dict), "clusters must be an object")
        _need(sorted(clusters) == sorted(expected), f"shard {shard}/{shards} must hold exactly clusters "
              f"{', '.join(expected) or '(none)'}; it holds {', '.join(sorted(map(str, clusters))) or '(none)'}")
        resources = {name: _documents(name, texts, str(path), documents) for name, texts in clusters.items()}
        raw = data.get("findings")
        _need(isinstance(raw, list), "findings must be a list")
        findings = [_finding(f, f"findings[{i}]") for i, f in enumerate(raw)]
        for i, f in enumerate(findings):
            _need(f.rule in SHARD_RULES, f"findings[{i}].rule is {f.rule!r}; a shard reports only "
                  f"{', '.join(SHARD_RULES)} (the policies and waivers run in merge)")
    except _Bad as exc:
        raise InputError(f"not a valid partial result: {exc}", str(path)) from None
    except RecursionError:  # a structure nested deep enough to stop a check: not what a shard writes
        raise InputError("not a valid partial result: nested too deep", str(path)) from None
    return shard, shards, resources, findings


def merge(root: Path, policies: tuple[Policy, ...], options: pipeline.Options, paths: list[Path]) -> pipeline.Result:
    """Every shard's clusters and findings, plus every policy over the whole fleet, plus waivers."""
    inv = inventory.load(root)  # the partials are read and checked first: a bad one stops merge before any tool
    tree = inputs_mod.Inputs(root, inv)
    documents = Documents()
    seen: dict[int, Path] = {}
    total: int | None = None
    resources: dict[str, list[Resource]] = {}
    findings: list[Finding] = []
    for path in paths:
        shard, shards, got, found = _load(path, inv, tree, documents)
        if total is not None and shards != total:
            raise InputError(f"shard {shard}/{shards} does not belong with the {total}-shard run of {seen[min(seen)]}",
                             str(path))
        if shard in seen:
            raise InputError(f"shard {shard}/{shards} was given twice (also {seen[shard]})", str(path))
        total, seen[shard] = shards, path
        resources |= got
        findings += found
    if total is None:
        raise UsageError("merge needs the partial result files of every shard")
    missing = sorted(set(range(1, total + 1)) - set(seen))
    if missing:
        raise UsageError(f"merge is missing shard(s) {', '.join(f'{k}/{total}' for k in missing)}")
    resources = {c.name: resources[c.name] for c in inv.clusters}
    inv, kz = pipeline._prepare(root, options.kustomize_cli)
    with pipeline.frozen_heap():
        findings += engine.run_policies(policies, Objects(inv, resources),
                                        pipeline.source_map(root, inv, kz, resources, options.workers))
        findings = pipeline.with_waivers(root, policies, options, findings)
    return pipeline.Result(inv, resources, findings, {}, frozenset(resources))
