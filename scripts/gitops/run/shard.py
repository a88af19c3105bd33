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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.infra import settings, yamlsrc
from gitops.infra.fsio import read_bounded
from gitops.model.errors import InputError, UsageError
from gitops.model.findings import BadFinding, Finding, finding_dict, finding_from, int_field, need, str_field
from gitops.model.inventory import Inventory
from gitops.model.resources import Resource
from gitops.run import cache as vcache
from gitops.run import fingerprint
from gitops.run.stages import names, schema, stale
from gitops.run.stages.parse import Documents

if TYPE_CHECKING:
    from gitops.run.context import Run
    from gitops.run.pipeline import Result

FORMAT = "gitops-partial/2"
_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
# What a shard reports; every other finding (the policies', the waivers') is merge's to make.
SHARD_RULES = (schema.SCHEMA.id, schema.UNKNOWN_KIND.id, stale.STALE.id, names.NAME.id)


def max_partial_bytes() -> int:
    """Largest partial result merge reads (GITOPS_MAX_PARTIAL_BYTES); a 1,000-cluster fleet's shard is ~30 MB."""
    return settings.current().max_partial_bytes


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


def partial(run: Run, shard: int, shards: int, result: Result) -> dict[str, Any]:
    """The partial result of one shard's run (run.pipeline.shard_plan): its clusters' documents and findings,
    bound to the tree it was made from."""
    names = members(result.inventory, shard, shards)
    return {"format": FORMAT, "shard": shard, "shards": shards,
            "inputs": fingerprint.Inputs(run.root, result.inventory).digests(names),
            "clusters": {name: [vcache.document_text(r) for r in result.resources[name]] for name in names},
            "findings": [finding_dict(f) for f in result.findings]}


def text(partial: dict[str, Any]) -> str:
    """The partial result as its file holds it."""
    return json.dumps(partial, ensure_ascii=False, separators=(",", ":")) + "\n"


# -- merge -------------------------------------------------------------------------------------

_Bad = BadFinding  # a partial that is not what a shard writes


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
    need(isinstance(texts, list), f"clusters.{name} must be a list of documents")
    items = []
    for i, text in enumerate(texts):
        str_field(text, f"clusters.{name}[{i}]")
        try:
            yamlsrc.check_expansion(text, shown)  # libyaml recurses on the C stack: a deep document would crash it
            body = documents.load(text)
        except InputError as exc:
            raise _Bad(f"clusters.{name}[{i}]: {exc.message}") from None
        except Exception as exc:  # yaml.YAMLError and the like: a damaged document
            raise _Bad(f"clusters.{name}[{i}] is not a YAML object: {exc.__class__.__name__}") from None
        need(isinstance(body, dict), f"clusters.{name}[{i}] is not a YAML object")
        items.append(Resource(name, body, text=text))
    return items


def _load(path: Path, inv: Inventory, tree: fingerprint.Inputs, documents: Documents
          ) -> tuple[int, int, dict[str, list[Resource]], list[Finding]]:
    data = _read(path)
    try:
        need(isinstance(data, dict), "the file must hold a JSON object")
        need(data.get("format") == FORMAT, f"format must be {FORMAT!r} (made by `gitops validate --shard K/N` "
              "of this tooling)")
        shard, shards = int_field(data.get("shard"), "shard"), int_field(data.get("shards"), "shards")
        need(1 <= shard <= shards, "shard must be between 1 and shards")
        need(shards <= len(inv.clusters), f"shards is {shards}, more than the {len(inv.clusters)} cluster(s) "
              "of inventory.yaml")
        expected = members(inv, shard, shards)
        recorded, here = data.get("inputs"), tree.digests(expected)
        need(isinstance(recorded, dict), "inputs must be an object (the digests of what the shard read)")
        differ = [_SHOWN[g] for g in fingerprint.GROUPS if recorded.get(g) != here[g]]
        need(not differ, f"it was made from another tree (these inputs differ from this checkout's: "
              f"{', '.join(differ)}); run every shard and the merge on the same commit, with the same tooling")
        clusters = data.get("clusters")
        need(isinstance(clusters, dict), "clusters must be an object")
        need(sorted(clusters) == sorted(expected), f"shard {shard}/{shards} must hold exactly clusters "
              f"{', '.join(expected) or '(none)'}; it holds {', '.join(sorted(map(str, clusters))) or '(none)'}")
        resources = {name: _documents(name, texts, str(path), documents) for name, texts in clusters.items()}
        raw = data.get("findings")
        need(isinstance(raw, list), "findings must be a list")
        findings = [finding_from(f, f"findings[{i}]") for i, f in enumerate(raw)]
        for i, f in enumerate(findings):
            need(f.rule in SHARD_RULES, f"findings[{i}].rule is {f.rule!r}; a shard reports only "
                  f"{', '.join(SHARD_RULES)} (the policies and waivers run in merge)")
    except _Bad as exc:
        raise InputError(f"not a valid partial result: {exc}", str(path)) from None
    except RecursionError:  # a structure nested deep enough to stop a check: not what a shard writes
        raise InputError("not a valid partial result: nested too deep", str(path)) from None
    return shard, shards, resources, findings


def read_all(root: Path, inv: Inventory, paths: list[Path]) -> tuple[dict[str, list[Resource]], list[Finding]]:
    """Every shard's clusters (in inventory order) and findings, from all N partials, each checked."""
    tree = fingerprint.Inputs(root, inv)
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
    return {c.name: resources[c.name] for c in inv.clusters}, findings
