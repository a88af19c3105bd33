"""Sync-engine bootstrap objects, made from the inventory so that fifty clusters need no hand edits.

Argo CD: one AppProject and one ApplicationSet whose git-directory generator makes an
Application per clusters/<name> folder of the clusters that sync with Argo CD.
Config Sync: one RootSync per cluster that syncs with Config Sync (unstructured, dir clusters/<name>).
"""
from __future__ import annotations

from typing import Any

from .inventory import Cluster, Inventory
from .manifests import Resource

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
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                },
            },
        },
    }
    return [project, appset]


def _rootsync(inv: Inventory, cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "configsync.gke.io/v1beta1",
        "kind": "RootSync",
        "metadata": {"name": "root-sync", "namespace": "config-management-system"},
        "spec": {
            "sourceFormat": "unstructured",
            "sourceType": "git",
            "git": {"repo": inv.repository.url, "branch": inv.repository.revision,
                    "dir": f"{CLUSTERS_DIR}/{cluster.name}", "auth": "none"},
        },
    }


def objects(inv: Inventory) -> dict[str, Resource]:
    """{repository path: Resource} of every bootstrap object, each in the cluster it is applied to."""
    out: dict[str, Resource] = {}
    if inv.argocd is not None and any(c.sync == "argocd" for c in inv.clusters):
        for body in _argocd(inv):
            out[f"{BOOTSTRAP_DIR}/argocd/{body['kind'].lower()}-{body['metadata']['name']}.yaml"] = \
                Resource(inv.argocd.cluster, body, origin=None)
    for c in inv.clusters:
        if c.sync == "config-sync":
            out[f"{BOOTSTRAP_DIR}/config-sync/{c.name}/rootsync-root-sync.yaml"] = Resource(c.name, _rootsync(inv, c))
    return out
