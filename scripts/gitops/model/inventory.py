"""The inventory (inventory.yaml): the single source of truth for clusters and clustersets (read by
infra/inventoryfile.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gitops.model.names import DNS_LABEL

INVENTORY_FILE = "inventory.yaml"
MCS_FLAVOURS = ("gke", "mcs-api")
EXPORT_API = {"gke": "net.gke.io/v1", "mcs-api": "multicluster.x-k8s.io/v1alpha1"}  # ServiceExport per flavour
SYNC_ENGINES = ("argocd", "config-sync")
MINOR = re.compile(r"^1\.(\d+)$")  # a Kubernetes minor version: 1.33
# Config Sync's git auth types (RootSync spec.git.auth) that this inventory sets, and what each needs.
AUTH_SECRET = ("token", "ssh")  # need spec.git.secretRef
AUTH_TYPES = ("none", *AUTH_SECRET, "gcpserviceaccount", "gcenode")
DEFAULT_ROOTSYNC = "gitops"  # not root-sync: GKE's console and gcloud create and own that one


@dataclass(frozen=True)
class ConfigSync:
    """How a Config Sync cluster's RootSync reaches the repository."""

    root_sync_name: str = DEFAULT_ROOTSYNC
    auth: str = "none"
    secret_ref: str | None = None  # Secret in config-management-system, for token and ssh
    gcp_service_account_email: str | None = None  # for gcpserviceaccount (Workload Identity)


@dataclass(frozen=True)
class Retry:
    """Argo CD's retry of a failed sync (syncPolicy.retry)."""

    limit: int
    duration: str
    factor: int
    max_duration: str


@dataclass(frozen=True)
class SyncOptions:
    """The Argo CD Applications' sync options (syncPolicy.syncOptions and retry)."""

    server_side_apply: bool = False
    create_namespace: bool = False
    retry: Retry | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    clusterset: str
    location: str
    kubernetes_version: str  # "1.33": a minor version, as the schemas are per minor
    mcs: str  # "gke" (net.gke.io/v1) or "mcs-api" (multicluster.x-k8s.io)
    sync: str  # "argocd" or "config-sync"
    overlay: str  # path relative to the repository root
    line: int  # where the cluster is declared, for findings about the cluster itself
    config_sync: ConfigSync = ConfigSync()  # the RootSync's settings (sync: config-sync only)


@dataclass(frozen=True)
class Clusterset:
    name: str
    description: str
    line: int


@dataclass(frozen=True)
class Repository:
    url: str
    revision: str


@dataclass(frozen=True)
class ArgoCD:
    cluster: str
    namespace: str
    project: str
    sync_options: SyncOptions = SyncOptions()
    # Cluster-scoped kinds (group, kind) the AppProject permits besides Namespace: widened on purpose.
    cluster_resources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Inventory:
    root: Path
    repository: Repository
    argocd: ArgoCD | None
    clustersets: tuple[Clusterset, ...]
    clusters: tuple[Cluster, ...]

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def members(self, clusterset: str) -> list[Cluster]:
        return [c for c in self.clusters if c.clusterset == clusterset]
