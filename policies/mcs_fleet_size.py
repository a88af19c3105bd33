"""A GKE fleet's multi-cluster Services stop scaling past 50 clusters."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

GKE_MAX_CLUSTERS = 50


def check(fleet: Fleet) -> Iterator[Violation]:
    for clusterset in fleet.inventory.clustersets:
        members = fleet.inventory.members(clusterset.name)
        if len(members) > GKE_MAX_CLUSTERS and all(c.mcs == "gke" for c in members):
            yield Violation(None, f"clusterset {clusterset.name} has {len(members)} GKE clusters; GKE multi-cluster "
                                  f"Services supports at most {GKE_MAX_CLUSTERS} clusters per fleet",
                            (), cluster=members[0].name)


POLICY = Policy(
    id="mcs-fleet-size",
    severity=Severity.WARNING,
    summary=f"A GKE clusterset has at most {GKE_MAX_CLUSTERS} clusters.",
    rationale="GKE multi-cluster Services is sized for fleets of up to 50 clusters; beyond that, exports are "
              "imported slowly or not at all, and the fleet needs to be split.",
    fix="Split the clusters into several clustersets (fleets) in inventory.yaml.",
    check=check,
    scope="clusterset",
)
