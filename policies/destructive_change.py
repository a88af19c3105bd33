"""A change that removes a cluster, renames its folder, moves its destination or prunes much of what it holds is
accepted only with a waiver that says why.

Compared with the base revision (validate's and merge's --base, else the merge base with main; diff's base): its
inventory as this tooling reads it, and the files of its committed clusters/<name>/ (model/baseline.py). What
this change renders for a cluster is the head's build, named as render names its files.
"""
from __future__ import annotations

from typing import Iterator

from gitops.model.baseline import BaseCluster
from gitops.model.findings import Severity, SourceLocation
from gitops.model.inventory import INVENTORY_FILE
from gitops.model.names import GENERATED_HASH, GENERATED_KINDS, rendered_file
from gitops.model.objects import Objects
from gitops.model.rules import Parameter, Policy, Settings, Violation

SHOWN = 3  # objects named per finding; the rest are counted
_FOLDER = "clusters"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _named(files: list[str] | tuple[str, ...]) -> str:
    """"3 objects (a.yaml, b.yaml, c.yaml)" or "12 objects (first: a.yaml, b.yaml, c.yaml)"."""
    shown = ", ".join(files[:SHOWN])
    if not files:
        return "0 objects"
    return f"{_plural(len(files), 'object')} ({'first: ' if len(files) > SHOWN else ''}{shown})"


def _namespaces(files: list[str] | tuple[str, ...]) -> list[str]:
    """The Namespaces among the files: pruning one deletes everything in it, whoever made it."""
    return [f.split("/")[-1].removeprefix("namespace-").removesuffix(".yaml") for f in files
            if f.startswith("_cluster/namespace-")]


def _generated(path: str) -> str | None:
    """A generated ConfigMap's or Secret's file without kustomize's name hash (its content changed: a new name, the
    object replaced rather than pruned); None for any other file."""
    folder, _, file = path.rpartition("/")
    kind, _, name = file.removesuffix(".yaml").partition("-")
    match = GENERATED_HASH.match(name)
    return f"{folder}/{kind}-{match['base']}" if match and kind in {k.lower() for k in GENERATED_KINDS} else None


def _engine_note(base: BaseCluster) -> str:
    if base.destination.startswith("Config Sync"):
        return ("its RootSync keeps running until someone deletes it; Config Sync deletes the objects with it only "
                "when its deletion propagation is Foreground")
    return ("Argo CD keeps its Application and the objects (preserveResourcesOnDeletion, applicationsSync: "
            "create-update) until someone deletes them")


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    base = objects.baseline
    if base is None:
        return
    if base.problem:
        yield Violation(None, f"the base revision {base.label} could not be compared: {base.problem}; removed, renamed "
                              "or moved clusters and large prunes are not checked", severity=Severity.WARNING,
                        location=SourceLocation(INVENTORY_FILE, objects.inventory.clusters_line))
        return
    head = {c.name: c for c in objects.clusters}
    known = {b.name for b in base.clusters}
    added_by_overlay = {c.overlay: c for c in objects.clusters if c.name not in known}
    limit = settings["maxPrunePercent"]
    for b in base.clusters:
        now = head.get(b.name)
        if now is None:
            renamed = added_by_overlay.get(b.overlay)
            if renamed is not None:
                yield Violation(None, f"cluster {b.name} is renamed to {renamed.name} (overlay {b.overlay}): its folder "
                                      f"{_FOLDER}/{b.name}/ with {_named(b.files)} leaves the fleet and "
                                      f"{_FOLDER}/{renamed.name}/ is synced as a new cluster; "
                                      f"{_engine_note(b)}", cluster=renamed.name)
                continue
            yield Violation(None, f"cluster {b.name} is removed from {INVENTORY_FILE} (line {b.line} of {base.label}): "
                                  f"its folder {_FOLDER}/{b.name}/ with {_named(b.files)} is no longer synced; "
                                  f"{_engine_note(b)}", cluster=b.name,
                            location=SourceLocation(INVENTORY_FILE, objects.inventory.clusters_line))
            continue
        moved_to = objects.inventory.destination(now)
        if moved_to != b.destination:
            yield Violation(None, f"cluster {b.name} changes where it is synced: {b.destination} → {moved_to}; its "
                                  f"{_named(b.files)} are left to the old one, which may prune them, and the new one "
                                  "applies them as new", cluster=b.name)
        if not b.files:
            continue
        rendered = {rendered_file(r.kind, r.namespace, r.name) for r in objects.resources.get(b.name, ())}
        regenerated = {g for g in map(_generated, rendered) if g}
        pruned = [f for f in b.files if f not in rendered and _generated(f) not in regenerated]
        if pruned and len(pruned) * 100 > limit * len(b.files):
            namespaces = _namespaces(pruned)
            also = (f"; pruning Namespace {', '.join(namespaces)} deletes everything in it, also what this "
                    "repository does not hold") if namespaces else ""
            yield Violation(None, f"cluster {b.name} would prune {len(pruned)} of its {len(b.files)} objects "
                                  f"({len(pruned) * 100 // len(b.files)}%, more than maxPrunePercent {limit}%): "
                                  f"{_named(pruned)}{also}", cluster=b.name)


POLICY = Policy(
    id="destructive-change",
    severity=Severity.ERROR,
    summary="A change that removes a cluster, renames its folder, changes where it is synced or prunes more than "
            "maxPrunePercent of its objects needs a waiver with a reason.",
    rationale="Such a change looks like any other in review, yet a sync engine that cascades or prunes deletes a "
              "cluster's workloads for it; the generated Applications keep what they synced, and removal becomes a "
              "step a person takes on purpose.",
    fix="If it is meant, add a waiver (policies/waivers.yaml, target cluster: <name>) whose reason says how the "
        "cluster's objects are handed over or removed; else restore the cluster, its name or its objects.",
    check=check,
    scope="clusterset",
    parameters=(Parameter("maxPrunePercent", "int", 50,
                          "the share of a cluster's committed objects (percent) one change may prune unwaived"),),
)
