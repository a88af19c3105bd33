"""A ServiceExport's API group must be the one the cluster's MCS implementation serves, or it is never acted on."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import is_mcs

SERVED = {
    "gke": ("net.gke.io/v1",),
    "mcs-api": ("multicluster.x-k8s.io/v1alpha1", "multicluster.x-k8s.io/v1beta1"),
}
KEP_GROUP = "multicluster.k8s.io"


def check(objects: Objects) -> Iterator[Violation]:
    for cluster in objects.clusters:
        served = SERVED[cluster.mcs]
        expected = " or ".join(served)
        for export in objects.of_kind("ServiceExport", cluster.name):
            if not is_mcs(export) or export.api_version in served:
                continue
            what = f"{cluster.name} ServiceExport {export.namespace}/{export.name} uses apiVersion {export.api_version}"
            if export.group == KEP_GROUP:
                message = (f"{what}, the MCS KEP's example group, which no MCS implementation serves; "
                           f"{cluster.name} runs MCS flavour {cluster.mcs} (inventory.yaml): use {expected}")
            else:
                message = (f"{what}, but {cluster.name} runs MCS flavour {cluster.mcs} (inventory.yaml), "
                           f"which serves {expected}")
            yield Violation(export, message, ("apiVersion",))


POLICY = Policy(
    id="mcs-export-api-version",
    severity=Severity.ERROR,
    summary="A ServiceExport's apiVersion matches the cluster's MCS flavour in the inventory.",
    rationale="GKE acts on net.gke.io/v1 exports and upstream MCS controllers on multicluster.x-k8s.io; an export "
              "in another group is accepted by the API server (or rejected for a missing CRD) but never exported.",
    fix="Use the export component of the cluster's flavour (components/export-gke or components/export-mcs-api), "
        "or correct the cluster's mcs field in inventory.yaml.",
    check=check,
)
