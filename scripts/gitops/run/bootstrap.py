"""Sync-engine bootstrap objects, made from the inventory so that fifty clusters need no hand edits.

Argo CD: one AppProject and one ApplicationSet whose git-directory generator makes an
Application per clusters/<name> folder of the clusters that sync with Argo CD.
Config Sync: one RootSync per cluster that syncs with Config Sync (unstructured, dir clusters/<name>),
with the auth, revision and name the inventory gives it (never `root-sync` by default: GKE owns that one).
"""
from __future__ import annotations

from typing import Any

from gitops.model.inventory import Cluster, Inventory, SyncOptions
from gitops.model.resources import Resource

CLUSTERS_DIR = "clusters"
BOOTSTRAP_DIR = "bootstrap"


def app_project(inv: Inventory) -> dict[str, Any] | None:
    """The generated AppProject (None without Argo CD clusters): what Argo CD permits each synced folder."""
    if inv.argocd is None or not any(c.sync == "argocd" for c in inv.clusters):
        return None
    return _argocd(inv)[0]


def _argocd(inv: Inventory) -> list[dict[str, Any]]:
    assert inv.argocd is not None
    argo = inv.argocd
    synced = [c for c in inv.clusters if c.sync == "argocd"]
    others = [c for c in inv.clusters if c.sync != "argocd"]
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": argo.project, "namespace": argo.namespace},
        "spec": {
            "description": "Per-cluster folders of this repository, one Application each",
            "sourceRepos": [inv.repository.url],
            "destinations": [{"name": c.name, "namespace": "*"} for c in synced],
            "clusterResourceWhitelist": [{"group": group, "kind": kind} for group, kind in
                                         dict.fromkeys((("", "Namespace"), *argo.cluster_resources))],
        },
    }
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "cluster-folders", "namespace": argo.namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {
                "repoURL": inv.repository.url,
                "revision": inv.repository.revision,
                "directories": [{"path": f"{CLUSTERS_DIR}/*"}]
                + [{"path": f"{CLUSTERS_DIR}/{c.name}", "exclude": True} for c in others],
            }}],
            "template": {
                "metadata": {"name": "{{.path.basename}}"},
                "spec": {
                    "project": argo.project,
                    "source": {"repoURL": inv.repository.url, "targetRevision": inv.repository.revision,
                               "path": "{{.path.path}}", "directory": {"recurse": True}},
                    # The folder's name is the cluster's name as registered in Argo CD.
                    "destination": {"name": "{{.path.basename}}"},
                    "syncPolicy": _sync_policy(argo.sync_options),
                },
            },
        },
    }
    return [project, appset]


def _sync_policy(options: SyncOptions) -> dict[str, Any]:
    """The Applications' syncPolicy: automated, plus the inventory's sync options and retry."""
    policy: dict[str, Any] = {"automated": {"prune": True, "selfHeal": True}}
    flags = [f for f, on in (("ServerSideApply=true", options.server_side_apply),
                             ("CreateNamespace=true", options.create_namespace)) if on]
    if flags:
        policy["syncOptions"] = flags
    if options.retry is not None:
        r = options.retry
        policy["retry"] = {"limit": r.limit, "backoff": {"duration": r.duration, "factor": r.factor,
                                                          "maxDuration": r.max_duration}}
    return policy


def _rootsync(inv: Inventory, cluster: Cluster) -> dict[str, Any]:
    cs = cluster.config_sync
    git: dict[str, Any] = {"repo": inv.repository.url, "revision": inv.repository.revision,
                           "dir": f"{CLUSTERS_DIR}/{cluster.name}", "auth": cs.auth}
    if cs.secret_ref:
        git["secretRef"] = {"name": cs.secret_ref}
    if cs.gcp_service_account_email:
        git["gcpServiceAccountEmail"] = cs.gcp_service_account_email
    return {
        "apiVersion": "configsync.gke.io/v1beta1",
        "kind": "RootSync",
        "metadata": {"name": cs.root_sync_name, "namespace": "config-management-system"},
        "spec": {"sourceFormat": "unstructured", "sourceType": "git", "git": git},
    }


def rootsync_path(cluster: Cluster) -> str:
    return f"{BOOTSTRAP_DIR}/config-sync/{cluster.name}/rootsync-{cluster.config_sync.root_sync_name}.yaml"


def objects(inv: Inventory) -> dict[str, Resource]:
    """{repository path: Resource} of every bootstrap object, each in the cluster it is applied to."""
    out: dict[str, Resource] = {}
    if inv.argocd is not None and any(c.sync == "argocd" for c in inv.clusters):
        for body in _argocd(inv):
            out[f"{BOOTSTRAP_DIR}/argocd/{body['kind'].lower()}-{body['metadata']['name']}.yaml"] = \
                Resource(inv.argocd.cluster, body, origin=None)
    for c in inv.clusters:
        if c.sync == "config-sync":
            out[rootsync_path(c)] = Resource(c.name, _rootsync(inv, c))
    return out
