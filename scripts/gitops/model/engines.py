"""What the inventory may set for the sync engines beyond where they run (issue 23): rollout waves and labels,
the Argo CD Application and AppProject settings, and the Config Sync RootSync settings.

Plain data, read strictly by infra/inventoryfile.py (infra/shapes.py for the nested Argo CD structures, kept as
the plain values the engines' objects hold) and turned into objects by run/bootstrap.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The label that carries a cluster's wave on its generated Application: the ApplicationSet's RollingSync steps
# select on it (Argo CD: spec.strategy.rollingSync.steps[].matchExpressions).
WAVE_LABEL = "gitops/wave"
# How Argo CD names the cluster it runs in (its built-in `in-cluster` destination, always registered unless
# cluster.inClusterEnabled is "false" in argocd-cm): the destination of the cluster `argocd.cluster` names.
IN_CLUSTER = "https://kubernetes.default.svc"
# The ApplicationSet's own policy: never delete a generated Application when its cluster leaves the inventory.
APPLICATIONS_SYNC = "create-update"

Json = Any  # a value as the engine's object holds it (mappings, lists, strings, numbers, booleans)


@dataclass(frozen=True)
class ApplicationSettings:
    """What every generated Application carries (argocd.application)."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    ignore_differences: tuple[Json, ...] = ()  # spec.ignoreDifferences entries
    revision_history_limit: int | None = None  # spec.revisionHistoryLimit
    managed_namespace_metadata: Json = None  # spec.syncPolicy.managedNamespaceMetadata (with CreateNamespace=true)


@dataclass(frozen=True)
class ProjectSettings:
    """What the generated AppProject carries besides its sources, destinations and cluster-scoped whitelist
    (argocd.appProject)."""

    namespace_resource_blacklist: tuple[Json, ...] = ()
    namespace_resource_whitelist: tuple[Json, ...] | None = None  # None: every namespaced kind
    roles: tuple[Json, ...] = ()
    sync_windows: tuple[Json, ...] = ()
    orphaned_resources: Json = None
    source_namespaces: tuple[str, ...] = ()
    destination_service_accounts: tuple[Json, ...] = ()

    def spec(self) -> dict[str, Json]:
        """The AppProject spec fields these settings write (none that are unset)."""
        out: dict[str, Json] = {}
        if self.namespace_resource_blacklist:
            out["namespaceResourceBlacklist"] = list(self.namespace_resource_blacklist)
        if self.namespace_resource_whitelist is not None:  # an empty whitelist permits no namespaced kind
            out["namespaceResourceWhitelist"] = list(self.namespace_resource_whitelist)
        for key, value in (("roles", list(self.roles)), ("syncWindows", list(self.sync_windows)),
                           ("orphanedResources", self.orphaned_resources),
                           ("sourceNamespaces", list(self.source_namespaces)),
                           ("destinationServiceAccounts", list(self.destination_service_accounts))):
            if value is not None and value != []:
                out[key] = value
        return out


@dataclass(frozen=True)
class RoleRef:
    """A role Config Sync binds its root reconciler to (RootSync spec.override.roleRefs): a ClusterRoleBinding
    for a ClusterRole without a namespace, a RoleBinding in `namespace` otherwise."""

    kind: str  # "ClusterRole" or "Role"
    name: str
    namespace: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, **({"namespace": self.namespace} if self.namespace else {})}


@dataclass(frozen=True)
class RootSyncOverride:
    """spec.override.resources and .logLevels of a RootSync, as written in the inventory."""

    resources: tuple[Json, ...] = ()
    log_levels: tuple[Json, ...] = ()


def wave_text(wave: int | None) -> str:
    """"wave 2", or what a cluster without one is in."""
    return f"wave {wave}" if wave is not None else "no wave (after the numbered waves)"
