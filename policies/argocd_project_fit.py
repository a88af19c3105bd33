"""Every object in an Argo CD cluster's folder is one the generated AppProject permits, or Argo CD refuses the sync.

Config Sync's counterpart is configsync-role-fit (the roles its RootSync binds).
"""
from __future__ import annotations

import fnmatch
from typing import Any, Iterator

from gitops.model.engines import IN_CLUSTER
from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import scopes


def _matches(entries: Any, group: str, kind: str) -> bool:
    """An AppProject group/kind list entry matches (Argo CD reads both as globs)."""
    return any(isinstance(e, dict) and fnmatch.fnmatchcase(group, str(e.get("group", "")))
               and fnmatch.fnmatchcase(kind, str(e.get("kind", ""))) for e in entries or ())


def _kinds(entries: Any) -> str:
    shown = [f"{e.get('group') or 'core'}/{e.get('kind')}" for e in entries or () if isinstance(e, dict)]
    return ", ".join(shown) or "none"


KIND, NAMESPACE = ("kind",), ("metadata", "namespace")


def destinations(project: dict[str, Any], cluster: str, server: str = "") -> list[dict[str, Any]]:
    """The project's destinations that name `cluster`, or its `server` (Argo CD's own cluster is reached as
    in-cluster, by its server); Argo CD reads both as globs."""
    return [d for d in (project.get("spec") or {}).get("destinations") or () if isinstance(d, dict)
            and ((d.get("name") and fnmatch.fnmatchcase(cluster, str(d["name"])))
                 or (server and d.get("server") and fnmatch.fnmatchcase(server, str(d["server"]))))]


def refusal(project: dict[str, Any], cluster: str, res: Resource, cluster_scoped: bool,
            dests: list[dict[str, Any]] | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(why, field) Argo CD would refuse to sync `res` to `cluster` under `project`; None when it is permitted."""
    spec = project.get("spec") or {}
    name = (project.get("metadata") or {}).get("name", "")
    group, kind = res.group, res.kind
    dests = destinations(project, cluster) if dests is None else dests
    if not dests:
        return f"AppProject {name} has no destination for cluster {cluster}", KIND
    if cluster_scoped:
        if not _matches(spec.get("clusterResourceWhitelist"), group, kind) or \
                _matches(spec.get("clusterResourceBlacklist"), group, kind):
            return (f"{group or 'core'}/{kind} is cluster-scoped and AppProject {name} permits only "
                    f"{_kinds(spec.get('clusterResourceWhitelist'))} among cluster-scoped kinds"), KIND
        return None
    if _matches(spec.get("namespaceResourceBlacklist"), group, kind) or (
            "namespaceResourceWhitelist" in spec and not _matches(spec["namespaceResourceWhitelist"], group, kind)):
        return f"AppProject {name} does not permit the namespaced kind {group or 'core'}/{kind}", KIND
    namespace = res.namespace
    if not any(fnmatch.fnmatchcase(namespace, str(d.get("namespace", ""))) for d in dests):
        allowed = ", ".join(str(d.get("namespace", "")) for d in dests)
        return (f"AppProject {name} lets cluster {cluster} receive objects only in namespaces {allowed}, "
                f"not {namespace or '(none)'}"), NAMESPACE
    return None


def check(objects: Objects) -> Iterator[Violation]:
    project = objects.app_project
    if project is None:
        return
    kinds = scopes(objects)
    argocd = objects.inventory.argocd
    known: dict[tuple[str, str, str, str], tuple[str, tuple[str, ...]] | None] = {}  # a fleet repeats its kinds
    for cluster in objects.clusters:
        if cluster.sync != "argocd":
            continue
        dests = destinations(project, cluster.name, IN_CLUSTER if argocd is not None and cluster.name == argocd.cluster
                             else "")
        for r in objects.resources.get(cluster.name, ()):
            key = (cluster.name, r.api_version, r.kind, r.namespace)
            if key not in known:
                known[key] = refusal(project, cluster.name, r, kinds.cluster_scoped(r.group, r.kind), dests)
            refused = known[key]
            if refused:
                why, path = refused
                yield Violation(r, f"{cluster.name} {r.ref} is synced by Argo CD, but {why}; Argo CD refuses to "
                                   "sync it", path)


POLICY = Policy(
    id="argocd-project-fit",
    severity=Severity.ERROR,
    summary="Every object of a cluster synced by Argo CD is permitted by the generated AppProject (cluster-scoped "
            "whitelist, namespaced blacklist, destinations and their namespaces).",
    rationale="Argo CD checks each object against the Application's AppProject and refuses the whole sync when "
              "one is not permitted, while every object still validates (configsync-role-fit is Config Sync's "
              "counterpart).",
    fix="Remove the object, or widen the project on purpose in inventory.yaml (argocd.clusterResources: "
        "[{group: <group>, kind: <Kind>}], argocd.appProject.namespaceResourceWhitelist) and run `nox -s render`.",
    check=check,
)
