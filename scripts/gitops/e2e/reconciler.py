"""Config Sync's root reconciler, asked of the real RBAC authorizer: e2e binds the roles a cluster's RootSync names
(spec.override.roleRefs) to the reconciler's service account as Config Sync does, then asks, for every kind and
namespace of the folder, whether that account may read it cluster-wide and write it there (SubjectAccessReview).

Config Sync's own names (kpt-config-sync, pkg/core): the reconciler of RootSync `root-sync` is the service
account `root-reconciler` in config-management-system, that of any other RootSync `root-reconciler-<name>`; a
roleRef without a namespace becomes a ClusterRoleBinding, one with a namespace a RoleBinding there.
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol

from gitops.model.resources import Resource

NAMESPACE = "config-management-system"
READ = ("get", "list", "watch")  # cluster-wide: a RootSync's remediator watches at cluster scope
WRITE = ("create", "update", "patch", "delete")
BINDING_PREFIX = "gitops-e2e-"  # the bindings e2e makes, named apart from the folder's own objects


class Api(Protocol):
    """What this needs of e2e's Server: apply an object, find a kind's resource, ask a SubjectAccessReview."""

    def apply(self, body: dict[str, Any], dry_run: bool) -> Any: ...

    def resource_of(self, api_version: str, kind: str) -> tuple[str, bool] | None: ...

    def allowed(self, review: dict[str, Any]) -> bool: ...


def account(root_sync: str) -> str:
    return "root-reconciler" if root_sync == "root-sync" else f"root-reconciler-{root_sync}"


def role_refs(rootsync: Resource) -> list[dict[str, Any]]:
    spec = rootsync.body.get("spec") or {}
    return [r for r in (spec.get("override") or {}).get("roleRefs") or [] if isinstance(r, dict)]


def bindings(root_sync: str, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ClusterRoleBinding or RoleBinding of each roleRef, to the reconciler's service account."""
    subject = [{"kind": "ServiceAccount", "name": account(root_sync), "namespace": NAMESPACE}]
    out = []
    for i, ref in enumerate(refs):
        ns = str(ref.get("namespace") or "")
        meta: dict[str, Any] = {"name": f"{BINDING_PREFIX}{root_sync}-{i}", **({"namespace": ns} if ns else {})}
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding" if ns else "ClusterRoleBinding",
                    "metadata": meta, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": str(ref.get("kind")),
                                "name": str(ref.get("name"))}})
    return out


def _review(user: str, group: str, resource: str, verb: str, namespace: str) -> dict[str, Any]:
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated"]
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups,
                     "resourceAttributes": {"group": group, "resource": resource, "verb": verb,
                                            **({"namespace": namespace} if namespace else {})}}}


def refusals(api: Api, rootsync: Resource, folder: list[Resource]) -> Iterator[tuple[Resource, str]]:
    """(object, what the authorizer denies its reconciler) for the first object of each kind and namespace the
    roles do not cover; nothing when the RootSync names no roleRefs (Config Sync then binds cluster-admin)."""
    refs = role_refs(rootsync)
    if not refs:
        return
    for body in bindings(rootsync.name, refs):
        api.apply(body, dry_run=False)
    user = f"system:serviceaccount:{NAMESPACE}:{account(rootsync.name)}"
    seen: set[tuple[str, str, str]] = set()
    for res in folder:
        found = api.resource_of(res.api_version, res.kind)
        if found is None:
            continue  # the server does not serve the kind: server-rejects says so
        resource, namespaced = found
        namespace = (res.namespace or "default") if namespaced else ""
        key = (res.group, resource, namespace)
        if key in seen:
            continue
        seen.add(key)
        denied = [v for v in READ if not api.allowed(_review(user, res.group, resource, v, ""))]
        denied += [v for v in WRITE if not api.allowed(_review(user, res.group, resource, v, namespace))]
        if denied:
            where = f" in namespace {namespace}" if namespace else ""
            yield res, (f"{', '.join(denied)} {res.group or 'core'}/{resource}{where} (service account {NAMESPACE}/"
                        f"{account(rootsync.name)}, bound by the RootSync's roleRefs)")
