"""e2e's Config Sync reconciler check: the bindings Config Sync would make, and the questions asked of the
authorizer (a fake one here; tests/acceptance/test_configsync_roles.py asks the real one)."""
from __future__ import annotations

from typing import Any

from gitops.e2e import reconciler
from gitops.model.resources import Resource


def _rootsync(name: str, refs: list[dict[str, str]] | None) -> Resource:
    spec: dict[str, Any] = {"sourceFormat": "unstructured"}
    if refs is not None:
        spec["override"] = {"roleRefs": refs}
    return Resource("cluster-2", {"apiVersion": "configsync.gke.io/v1beta1", "kind": "RootSync",
                                  "metadata": {"name": name, "namespace": "config-management-system"}, "spec": spec})


def _deployment(namespace: str) -> Resource:
    return Resource("cluster-2", {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "web", "namespace": namespace}})


class FakeApi:
    """Allows what `granted` lists as (resource, verb, namespace); records every apply and review."""

    def __init__(self, granted: set[tuple[str, str, str]]) -> None:
        self.granted = granted
        self.applied: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []

    def apply(self, body: dict[str, Any], dry_run: bool) -> None:
        self.applied.append(body)

    def resource_of(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        return {"Deployment": ("deployments", True)}.get(kind)

    def allowed(self, review: dict[str, Any]) -> bool:
        self.reviews.append(review)
        a = review["spec"]["resourceAttributes"]
        return (a["resource"], a["verb"], a.get("namespace", "")) in self.granted


def test_the_service_account_follows_config_sync() -> None:
    assert reconciler.account("root-sync") == "root-reconciler"
    assert reconciler.account("gitops-mcs") == "root-reconciler-gitops-mcs"


def test_bindings_per_role_ref() -> None:
    got = reconciler.bindings("gitops", [{"kind": "ClusterRole", "name": "wide"},
                                         {"kind": "ClusterRole", "name": "local", "namespace": "apps"}])
    assert [(b["kind"], b["metadata"], b["roleRef"]["name"]) for b in got] == [
        ("ClusterRoleBinding", {"name": "gitops-e2e-gitops-0"}, "wide"),
        ("RoleBinding", {"name": "gitops-e2e-gitops-1", "namespace": "apps"}, "local")]
    assert got[0]["subjects"] == [{"kind": "ServiceAccount", "name": "root-reconciler-gitops",
                                   "namespace": "config-management-system"}]


def test_no_role_refs_asks_nothing() -> None:
    api = FakeApi(set())
    assert list(reconciler.refusals(api, _rootsync("gitops", None), [_deployment("apps")])) == []
    assert api.applied == [] and api.reviews == []


def test_reading_is_asked_cluster_wide_and_writing_in_the_namespace() -> None:
    granted = {("deployments", v, "") for v in reconciler.READ} | {("deployments", "create", "apps")}
    api = FakeApi(granted)
    found = list(reconciler.refusals(api, _rootsync("gitops", [{"kind": "ClusterRole", "name": "r"}]),
                                     [_deployment("apps"), _deployment("apps")]))
    assert [why for _, why in found] == [
        "update, patch, delete apps/deployments in namespace apps (service account "
        "config-management-system/root-reconciler-gitops, bound by the RootSync's roleRefs)"]
    assert len(api.reviews) == 7  # one kind and namespace: asked once, three reads and four writes
    assert api.reviews[0]["spec"]["user"] == "system:serviceaccount:config-management-system:root-reconciler-gitops"
    assert "namespace" not in api.reviews[0]["spec"]["resourceAttributes"]
