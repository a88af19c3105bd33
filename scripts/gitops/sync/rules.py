"""The rules of `gitops sync`: what the real Argo CD says when it syncs each folder. Listed with the others
(--list-policies, waivers), but validate never reports them (it runs no Argo CD); its cheap tier is the
argocd-applications and argocd-project-fit policies (Argo CD's code, without the controllers)."""
from __future__ import annotations

from gitops.model.findings import Severity
from gitops.model.rules import Rule

SYNC_APPLICATIONS = Rule(
    "sync-applications", Severity.ERROR,
    "The applicationset-controller generates exactly one Application per Argo CD cluster, with that cluster as "
    "destination and its folder as path, and no other.",
    "A folder the ApplicationSet misses is never synced; an Application without a registered cluster, or for a "
    "Config Sync folder, fails or fights the other engine.",
    "Correct inventory.yaml (the cluster's name or sync engine) and run `nox -s render`; never edit bootstrap/ "
    "by hand.")
SYNC_REFUSED = Rule(
    "sync-refused", Severity.ERROR,
    "Argo CD permits every Application and every object of its folder (its AppProject checks, in the real sync).",
    "Argo CD refuses the whole sync when one object is not permitted by the AppProject, or the Application's "
    "destination or source is not.",
    "Remove the object, or widen the project on purpose in inventory.yaml (argocd.clusterResources) and run "
    "`nox -s render`.")
SYNC_FAILED = Rule(
    "sync-failed", Severity.ERROR,
    "Argo CD's sync of each folder succeeds: every object is applied (Argo CD's kubectl apply against a real "
    "kube-apiserver).",
    "A failed sync leaves the cluster half updated and retries for ever; the message is the API server's or "
    "Argo CD's own.",
    "Fix the object at the line shown; `nox -s sync -- --clusters NAME` checks one cluster again.")
SYNC_UNSTABLE = Rule(
    "sync-unstable", Severity.ERROR,
    "Each Application stays Synced: a second sync of the same commit re-applies nothing, and a hard refresh "
    "finds it Synced.",
    "An object the API server fills in differently than the folder writes it (defaults inside list items, which "
    "apply replaces as a whole) is re-applied on every sync, or shows OutOfSync for ever and self-heals in a loop.",
    "Write the fields the finding names (what the API server stores) in the source. The sync option "
    "`ServerSideApply=true` alone does not fix it: without the compare option ServerSideDiff=true it turns the "
    "re-apply into a permanent OutOfSync.")
SYNC_DEGRADED = Rule(
    "sync-degraded", Severity.ERROR,
    "No synced object is Degraded by Argo CD's health checks. Without nodes or controllers, \"not Degraded\" is "
    "what a throwaway cluster can prove; Healthy cannot be.",
    "Argo CD marks an object Degraded from what the API server says of it (a failed condition, an invalid "
    "reference); that holds in the real cluster too.",
    "Fix the object the health message names.")
SYNC_RULES: tuple[Rule, ...] = (SYNC_APPLICATIONS, SYNC_REFUSED, SYNC_FAILED, SYNC_UNSTABLE, SYNC_DEGRADED)
