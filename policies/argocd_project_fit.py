"""Every object in an Argo CD cluster's folder, and each generated Application, is one the AppProject permits.

The verdict is Argo CD's own (run/stages/argocd.py runs tools/argocd/plan: the AppProject's IsGroupKindPermitted
and IsDestinationPermitted in the order of the sync's permission validator, and ValidatePermissions for the
Application's source and destination), with its own messages.

Config Sync's counterpart is configsync-role-fit (the roles its RootSync binds).
"""
from __future__ import annotations

from typing import Iterator

from gitops.model import argocd
from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

KIND, NAMESPACE = ("kind",), ("metadata", "namespace")


def check(objects: Objects) -> Iterator[Violation]:
    verdict, missing = argocd.evaluated(objects, POLICY.id)
    yield from missing
    if verdict is None:
        return
    for app in verdict.applications:
        for condition in app.conditions:
            yield Violation(verdict.app_project, f"Argo CD refuses Application {app.name} ({app.path}): {condition}",
                            ("spec",))
    for refusal in verdict.refused:
        res = refusal.resource
        if res is None:
            continue
        yield Violation(res, f"{res.cluster} {res.ref} is refused by Argo CD's AppProject check (Application "
                             f"{refusal.application}): {refusal.message}",
                        NAMESPACE if refusal.field == "namespace" and res.namespace else KIND)


POLICY = Policy(
    id="argocd-project-fit",
    severity=Severity.ERROR,
    summary="Argo CD's own AppProject checks permit every generated Application (source, destination) and every "
            "object of its folder (cluster-scoped whitelist, namespaced black- and whitelists, destination namespaces).",
    rationale="Argo CD checks each object against the Application's AppProject and refuses the whole sync when "
              "one is not permitted, while every object still validates; the verdict is Argo CD's code "
              "(tools/argocd/plan), not an imitation (configsync-role-fit is Config Sync's counterpart).",
    fix="Remove the object, or widen the project on purpose in inventory.yaml (argocd.clusterResources: "
        "[{group: <group>, kind: <Kind>}], argocd.appProject.namespaceResourceWhitelist) and run `nox -s render`.",
    check=check,
)
