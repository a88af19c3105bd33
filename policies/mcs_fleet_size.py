"""A GKE fleet's multi-cluster Services stop scaling past 50 clusters."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Parameter, Policy, Settings, Violation

GKE_MAX_CLUSTERS = 50


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    limit = settings["maxClusters"]
    for clusterset in objects.inventory.clustersets:
        members = objects.inventory.members(clusterset.name)
        if len(members) > limit and all(c.mcs == "gke" for c in members):
            yield Violation(None, f"clusterset {clusterset.name} has {len(members)} GKE clusters; GKE multi-cluster "
                                  f"Services supports at most {limit} clusters per fleet",
                            (), cluster=members[0].name)


POLICY = Policy(
    id="mcs-fleet-size",
    severity=Severity.WARNING,
    summary="A GKE clusterset has at most maxClusters clusters.",
    rationale="GKE multi-cluster Services is sized for fleets of up to 50 clusters; beyond that, exports are "
              "imported slowly or not at all, and the fleet needs to be split.",
    fix="Split the clusters into several clustersets (fleets) in inventory.yaml.",
    check=check,
    scope="clusterset",
    parameters=(Parameter("maxClusters", "int", GKE_MAX_CLUSTERS,
                          "the most clusters a GKE fleet's multi-cluster Services supports"),),
)
