"""Every object of a cluster synced by Config Sync is one its root reconciler may apply: the roles its committed
RootSync binds (spec.override.roleRefs), as bootstrap/config-sync/<name>/ defines them, grant reading its kind
cluster-wide and writing it where it lives, or the reconciler is refused.

The reconciler watches every kind it applies across the cluster (a RootSync's remediator lists and watches at
cluster scope), and writes with create, update, patch and delete. A roleRef to `cluster-admin` grants everything;
one to a role bootstrap/ does not define cannot be judged here and is reported once (a warning).
"""
from __future__ import annotations

from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.resources import Resource
from gitops.model.rules import Policy, Violation

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")
CLUSTER_ADMIN = "cluster-admin"


def _grants(rules: list[Any], group: str, resource: str, verb: str) -> bool:
    """A rule grants `verb` on every object of the resource (rules limited to resourceNames do not: a create or a
    watch names no object)."""
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("resourceNames"):
            continue
        groups, resources, verbs = (rule.get(k) or [] for k in ("apiGroups", "resources", "verbs"))
        if (group in groups or "*" in groups) and (resource in resources or "*" in resources) and \
                (verb in verbs or "*" in verbs):
            return True
    return False


def _roles(committed: list[Resource]) -> dict[tuple[str, str, str], list[Any]]:
    """{(kind, namespace, name): rules} of the ClusterRoles and Roles bootstrap/ defines for the cluster."""
    return {(r.kind, r.namespace, r.name): r.body.get("rules") or [] for r in committed
            if r.group == "rbac.authorization.k8s.io" and r.kind in ("ClusterRole", "Role")}


def check(objects: Objects) -> Iterator[Violation]:
    for cluster in objects.clusters:
        if cluster.sync != "config-sync":
            continue
        committed = objects.bootstrap.get(cluster.name, [])
        rootsync = next((r for r in committed if r.kind == "RootSync"
                         and r.name == cluster.config_sync.root_sync_name), None)
        if rootsync is None:
            continue  # not rendered yet: rendered-up-to-date says so
        refs = [r for r in ((rootsync.body.get("spec") or {}).get("override") or {}).get("roleRefs") or []
                if isinstance(r, dict)]
        if not refs or any(r.get("kind") == "ClusterRole" and r.get("name") == CLUSTER_ADMIN and not r.get("namespace")
                           for r in refs):
            continue  # no roleRefs: Config Sync binds cluster-admin, which permits everything
        defined = _roles(committed)
        wide: list[Any] = []
        in_namespace: dict[str, list[Any]] = {}
        unknown = []
        for ref in refs:
            ns = str(ref.get("namespace") or "")
            rules = defined.get((str(ref.get("kind")), ns if ref.get("kind") == "Role" else "", str(ref.get("name"))))
            if rules is None:
                unknown.append(f"{ref.get('kind')} {ref.get('name')}")
            elif ns:
                in_namespace.setdefault(ns, []).extend(rules)
            else:
                wide.extend(rules)
        if unknown:
            yield Violation(rootsync, f"{cluster.name}: the RootSync's roleRefs name {', '.join(unknown)}, which "
                                      f"bootstrap/config-sync/{cluster.name}/ does not define; what its reconciler "
                                      "may apply is not checked",
                            ("spec", "override", "roleRefs"), severity=Severity.WARNING)
            continue
        seen: dict[tuple[str, str, str], str | None] = {}  # a folder repeats its kinds
        for r in objects.resources.get(cluster.name, ()):
            key = (r.api_version, r.kind, r.namespace)
            if key not in seen:
                seen[key] = _refusal(objects, r, wide, in_namespace.get(r.namespace or "default", []))
            why = seen[key]
            if why:
                yield Violation(r, f"{cluster.name} {r.ref} is synced by Config Sync, but its reconciler may not "
                                   f"{why}; Config Sync would be refused", ("kind",))


def _refusal(objects: Objects, r: Resource, wide: list[Any], local: list[Any]) -> str | None:
    """What the roles do not grant for `r` ("create, patch group/resource in namespace ns"), None when all."""
    resource = objects.scopes.resource(r.group, r.kind)
    cluster_scoped = objects.scopes.cluster_scoped(r.group, r.kind)
    missing = [v for v in READ if not _grants(wide, r.group, resource, v)]
    writers = wide if cluster_scoped else wide + local
    missing += [v for v in WRITE if not _grants(writers, r.group, resource, v)]
    if not missing:
        return None
    where = "" if cluster_scoped else f" in namespace {r.namespace or 'default'}"
    return f"{', '.join(missing)} {r.group or 'core'}/{resource}{where} (reading is needed cluster-wide)"


POLICY = Policy(
    id="configsync-role-fit",
    severity=Severity.ERROR,
    summary="Every object of a cluster synced by Config Sync is one the roles its RootSync binds let its reconciler "
            "read cluster-wide and write where it lives.",
    rationale="A RootSync with override.roleRefs runs with exactly those roles: an object outside them is refused "
              "at sync time while it validates everywhere else; without roleRefs the reconciler is cluster-admin.",
    fix="Run `nox -s render` (the derived roles follow the folder's kinds) and apply bootstrap/config-sync/<name>/ "
        "before the change syncs, or widen the roles the inventory names (configSync.roleRefs).",
    check=check,
)
