"""The inventory (inventory.yaml): the single source of truth for clusters and clustersets (read by
infra/inventoryfile.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gitops.model.engines import (IN_CLUSTER, ApplicationSettings, ProjectSettings, RoleRef, RootSyncOverride,
                                  wave_text)
from gitops.model.names import DNS_LABEL

INVENTORY_FILE = "inventory.yaml"
MCS_FLAVOURS = ("gke", "mcs-api")
EXPORT_API = {"gke": "net.gke.io/v1", "mcs-api": "multicluster.x-k8s.io/v1alpha1"}  # ServiceExport per flavour
SYNC_ENGINES = ("argocd", "config-sync")
MINOR = re.compile(r"^1\.(\d+)$")  # a Kubernetes minor version: 1.33
# Config Sync's git auth types (RootSync spec.git.auth), and what each needs.
AUTH_SECRET = ("token", "ssh", "cookiefile", "githubapp")  # need spec.git.secretRef
AUTH_TYPES = ("none", *AUTH_SECRET, "gcpserviceaccount", "gcenode")
AUTH_PROXY = ("none", "token", "cookiefile")  # spec.git.proxy has an effect only with these (the CRD's words)
DEFAULT_ROOTSYNC = "gitops"  # not root-sync: GKE's console and gcloud create and own that one


@dataclass(frozen=True)
class ConfigSync:
    """How a Config Sync cluster's RootSync reaches the repository."""

    root_sync_name: str = DEFAULT_ROOTSYNC
    auth: str = "none"
    secret_ref: str | None = None  # Secret in config-management-system, for token, ssh, cookiefile, githubapp
    gcp_service_account_email: str | None = None  # for gcpserviceaccount (Workload Identity)
    ca_cert_secret_ref: str | None = None  # Secret in config-management-system with the CA certificate ("cert")
    proxy: str | None = None  # HTTPS proxy for the repository
    period: str | None = None  # time between syncs (Config Sync's default: 15s)
    role_refs: tuple[RoleRef, ...] | None = None  # None: the roles derived from the folder (run/bootstrap.py)
    override: RootSyncOverride = RootSyncOverride()


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
    automated: bool = True  # syncPolicy.automated: sync on every change (false: a person syncs)
    prune: bool = True  # automated.prune: delete what leaves the folder
    self_heal: bool = True  # automated.selfHeal: undo changes made in the cluster


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
    wave: int | None = None  # rollout wave: lower waves first (None: after every numbered wave)
    labels: dict[str, str] = field(default_factory=dict)  # on the cluster's Argo CD Application


@dataclass(frozen=True)
class Clusterset:
    name: str
    description: str
    line: int


@dataclass(frozen=True)
class Repository:
    url: str
    revision: str
    revisions: dict[int, str] = field(default_factory=dict)  # wave -> the ref its clusters follow

    def revision_of(self, cluster: Cluster) -> str:
        """The ref a cluster follows: its wave's, else `revision`."""
        return self.revisions.get(cluster.wave, self.revision) if cluster.wave is not None else self.revision


@dataclass(frozen=True)
class ArgoCD:
    cluster: str
    namespace: str
    project: str
    sync_options: SyncOptions = SyncOptions()
    # Cluster-scoped kinds (group, kind) the AppProject permits besides Namespace: widened on purpose.
    cluster_resources: tuple[tuple[str, str], ...] = ()
    application: ApplicationSettings = ApplicationSettings()
    app_project: ProjectSettings = ProjectSettings()
    max_update: dict[int, int | str] = field(default_factory=dict)  # wave -> RollingSync step's maxUpdate


@dataclass(frozen=True)
class Inventory:
    root: Path
    repository: Repository
    argocd: ArgoCD | None
    clustersets: tuple[Clusterset, ...]
    clusters: tuple[Cluster, ...]
    clusters_line: int = 1  # the line of `clusters:`, where a removed cluster's entry was

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def members(self, clusterset: str) -> list[Cluster]:
        return [c for c in self.clusters if c.clusterset == clusterset]

    def waves(self) -> list[int]:
        """The numbered waves, in rollout order."""
        return sorted({c.wave for c in self.clusters if c.wave is not None})

    def destination(self, cluster: Cluster) -> str:
        """Where the cluster's sync engine applies its folder, in words: what a change of it moves."""
        if cluster.sync == "config-sync":
            return f"Config Sync RootSync {cluster.config_sync.root_sync_name}"
        if self.argocd is not None and cluster.name == self.argocd.cluster:
            return f"Argo CD's own cluster ({IN_CLUSTER})"
        return f"Argo CD cluster named {cluster.name}"

    def wave_of(self, cluster: str) -> str:
        return wave_text(self.cluster(cluster).wave)
