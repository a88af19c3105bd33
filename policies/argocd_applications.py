"""The ApplicationSet generates exactly one Application per Argo CD cluster, syncing its folder into it.

Argo CD's own generators and template rendering decide (run/stages/argocd.py runs tools/argocd/plan over the
rendered folders, with every Argo CD cluster registered by its inventory name, as `gitops sync` registers them).
A cluster without an Application is reported at its inventory entry; an Application without a cluster, with
another cluster's destination or for a Config Sync folder, at the ApplicationSet.
"""
from __future__ import annotations

from typing import Iterator

from gitops.model import argocd
from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation


def check(objects: Objects) -> Iterator[Violation]:
    verdict, missing = argocd.evaluated(objects, POLICY.id)
    yield from missing
    if verdict is None:
        return
    for found in argocd.mismatches(objects.inventory, verdict.applications, verdict.generation_error):
        if found.cluster is not None:
            yield Violation(None, found.message, cluster=found.cluster)
        else:
            yield Violation(verdict.application_set, found.message, ("spec", "generators"))


POLICY = Policy(
    id="argocd-applications",
    severity=Severity.ERROR,
    summary="Argo CD's own ApplicationSet generators yield exactly one valid Application per Argo CD cluster, "
            "syncing clusters/<name> into that cluster, and none for any other folder.",
    rationale="A folder the ApplicationSet misses is never synced, and an Application without a registered cluster "
              "or for a Config Sync folder fails or fights the other engine, while every object still validates; "
              "the generation is Argo CD's code (tools/argocd/plan), not an imitation.",
    fix="Correct inventory.yaml (the cluster's name, sync engine or the argocd section) and run `nox -s render`; "
        "never edit bootstrap/ by hand.",
    check=check,
)
