"""One MCS implementation per clusterset: GKE's fleet MCS and the mcs-api controllers never import each other's exports."""
from __future__ import annotations

from collections import Counter
from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation


def check(objects: Objects) -> Iterator[Violation]:
    """Each cluster whose flavour is not its clusterset's most common one (the first in the inventory on a tie)
    is a finding at its inventory entry, naming the clusters of the other flavour."""
    inventory = objects.inventory
    for clusterset in inventory.clustersets:
        members = inventory.members(clusterset.name)
        flavours = Counter(c.mcs for c in members)
        if len(flavours) < 2:
            continue
        first = {c.mcs: i for i, c in reversed(list(enumerate(members)))}
        kept = max(flavours, key=lambda f: (flavours[f], -first[f]))
        others = ", ".join(c.name for c in members if c.mcs == kept)
        for cluster in (c for c in members if c.mcs != kept):
            yield Violation(None, f"clusterset {clusterset.name} mixes MCS implementations: {cluster.name} runs "
                                  f"{cluster.mcs}, while {others} run{'s' if flavours[kept] == 1 else ''} {kept}; "
                                  f"neither imports the other's exports, so calls between them do not resolve",
                            (), cluster=cluster.name)


POLICY = Policy(
    id="mcs-clusterset-one-flavour",
    severity=Severity.ERROR,
    summary="Every cluster of a clusterset runs the same MCS implementation (inventory.yaml `mcs`).",
    rationale="GKE's fleet MCS (net.gke.io) and the mcs-api controllers (multicluster.x-k8s.io) each import only "
              "the exports of their own implementation: a Service exported from a cluster of one flavour has no "
              "ServiceImport, and no clusterset.local name, in a cluster of the other.",
    fix="Give every cluster of the clusterset the same `mcs` (and its export component), or put the clusters of "
        "the other flavour into a clusterset of their own.",
    check=check,
    scope="clusterset",
)
