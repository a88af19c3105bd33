"""What Argo CD's own code says of the ApplicationSet and AppProject: the Applications it generates, what it refuses.

Plain data, made by validate's Argo CD stage (run/stages/argocd.py runs tools/argocd/plan, which links Argo CD's
generators, template rendering and AppProject checks) or read from a live Argo CD by the sync run (sync/); the
argocd-* policies and the sync-* rules turn it into findings. `mismatches` is the one comparison of generated
Applications with the inventory's Argo CD clusters, for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Iterable

from gitops.model.findings import Severity
from gitops.model.inventory import Inventory
from gitops.model.resources import Resource
from gitops.model.rules import Violation

if TYPE_CHECKING:
    from gitops.model.objects import Objects

CLUSTERS_DIR = "clusters"  # the folder of every cluster's rendered objects (run/bootstrap.py writes the same)


@dataclass(frozen=True)
class Application:
    """One Application the ApplicationSet generates, and what Argo CD says of it."""

    name: str
    path: str  # spec.source.path: the folder it syncs
    destination: str  # spec.destination's name (or server), as generated
    cluster: str  # the registered cluster the destination resolves to; "" when none does
    project: str = ""
    invalid: str = ""  # why the applicationset-controller would not create it
    conditions: tuple[str, ...] = ()  # what the application-controller reports as InvalidSpecError
    sync_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """One object of a folder the AppProject refuses, with the message Argo CD's sync gives."""

    application: str
    path: str  # the folder (clusters/<name>)
    index: int  # the object's position among the folder's objects the request listed
    group: str
    kind: str
    namespace: str
    name: str
    field: str  # "kind" (the group and kind are not permitted) or "namespace"
    message: str
    resource: Resource | None = None  # the object refused


@dataclass(frozen=True)
class Verdict:
    """Argo CD's answer for one run. `unavailable` says why there is none (no Go to build the plan program, or it
    failed): the policies report that instead of passing."""

    version: str = ""
    applications: tuple[Application, ...] = ()
    refused: tuple[Refusal, ...] = ()
    generation_error: str = ""
    application_set: Resource | None = None  # the ApplicationSet evaluated (where its findings point)
    app_project: Resource | None = None
    unavailable: str = ""
    # The tooling runs installed as a package, without the plan program's sources, in a repository that does not
    # hold them either (a pre-commit hook in a user's repository): "not checked" is then a notice. From a checkout
    # of this project, as CI's gate runs, an unavailable verdict stays an error.
    installed: bool = False


@dataclass(frozen=True)
class Mismatch:
    """A difference between the generated Applications and the inventory's Argo CD clusters: about one cluster
    (`cluster`: its inventory entry is where it points) or about the ApplicationSet (`cluster` None)."""

    message: str
    cluster: str | None = None


def folder(cluster: str) -> str:
    return f"{CLUSTERS_DIR}/{cluster}"


def argocd_clusters(inv: Inventory) -> list[str]:
    return [c.name for c in inv.clusters if c.sync == "argocd"]


def mismatches(inv: Inventory, applications: Iterable[Application], generation_error: str = "",
               selected: Collection[str] | None = None) -> list[Mismatch]:
    """Exactly one valid Application per Argo CD cluster (of `selected`, default all), syncing clusters/<name> into
    that cluster, and no other Application: what the ApplicationSet must generate."""
    apps = list(applications)
    engines = {c.name: c.sync for c in inv.clusters}
    wanted = [name for name in argocd_clusters(inv) if selected is None or name in selected]
    out: list[Mismatch] = []
    if generation_error:
        out.append(Mismatch(f"the ApplicationSet's generators fail, so Argo CD generates "
                            f"{'only some Applications' if apps else 'no Application'}: {generation_error}"))
    for name in wanted:
        mine = [a for a in apps if a.path == folder(name)]
        if not mine and not generation_error:
            out.append(Mismatch(f"cluster {name} syncs with Argo CD, but the ApplicationSet generates no Application "
                                f"for {folder(name)}: nothing syncs it", name))
        if len(mine) > 1:
            out.append(Mismatch(f"the ApplicationSet generates {len(mine)} Applications for {folder(name)} "
                                f"({', '.join(a.name for a in mine)}): they sync the same objects and prune each "
                                "other's"))
    for app in apps:
        owner = app.path[len(CLUSTERS_DIR) + 1:] if app.path.startswith(f"{CLUSTERS_DIR}/") else ""
        if owner in wanted:
            if app.invalid or not app.cluster:
                why = app.invalid or f"its destination {app.destination or '(none)'} is no registered cluster"
                out.append(Mismatch(f"Application {app.name} for cluster {owner} is not created: {why}"))
            elif app.cluster != owner:
                out.append(Mismatch(f"Application {app.name} syncs {app.path} into cluster {app.cluster}, not "
                                    f"{owner}: the template's destination does not follow the folder"))
        elif selected is not None and engines.get(owner) == "argocd":
            continue  # an Argo CD cluster this run did not select
        elif owner in engines:
            out.append(Mismatch(f"Application {app.name} syncs {app.path}, the folder of cluster {owner}, which "
                                f"syncs with {engines[owner]}: the ApplicationSet must exclude it"))
        else:
            out.append(Mismatch(f"Application {app.name} syncs {app.path or '(no path)'}, which is no cluster's folder "
                                f"in inventory.yaml{'' if app.cluster else ' and its destination is no registered cluster'}"))
    return out


def evaluated(objects: Objects, rule: str) -> tuple[Verdict | None, list[Violation]]:
    """(the verdict a rule judges by, []), or (None, [the "not checked" finding]) when Argo CD's code gave none for a
    fleet that has Argo CD clusters: the one preamble of every rule that reads the verdict."""
    missing = not_evaluated(objects, rule)
    return (None, [missing]) if missing is not None else (objects.argocd, [])


def not_evaluated(objects: Objects, rule: str) -> Violation | None:
    """What a rule reading the verdict reports when Argo CD's code did not evaluate a fleet that has Argo CD clusters
    (never a silent pass), at the ApplicationSet; None when it did, or when no cluster syncs with Argo CD."""
    verdict, inv = objects.argocd, objects.inventory
    if inv.argocd is None or not argocd_clusters(inv) or (verdict is not None and not verdict.unavailable):
        return None
    why = verdict.unavailable if verdict is not None else "no Argo CD verdict was made for this run"
    where = verdict.application_set if verdict is not None else None
    return Violation(where, f"{rule} is not checked: {why}", ("kind",) if where else (),
                     cluster=None if where else inv.argocd.cluster,
                     severity=Severity.NOTICE if verdict is not None and verdict.installed else None)
