"""ServiceImports are made by the MCS controller from the clusterset's exports; a hand-written one competes with it."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import exports_by_name, is_mcs, listing


def check(objects: Objects) -> Iterator[Violation]:
    exports = exports_by_name(objects)
    for r in objects.of_kind("ServiceImport"):
        if not is_mcs(r):
            continue
        clusterset = objects.cluster(r.cluster).clusterset
        exporters = [e.cluster for e in exports.get((clusterset, r.namespace, r.name), ())]
        source = (f"{listing(exporters)} {'exports' if len(exporters) == 1 else 'export'} it" if exporters
                  else f"no cluster in clusterset {clusterset} exports {r.namespace}/{r.name}")
        yield Violation(r, f"{r.cluster} ServiceImport {r.namespace}/{r.name} is written by hand; the MCS "
                           f"controller creates ServiceImports from the clusterset's ServiceExports ({source})",
                        ("kind",))


POLICY = Policy(
    id="mcs-handwritten-serviceimport",
    severity=Severity.WARNING,
    summary="No hand-written ServiceImports: the MCS controller creates them.",
    rationale="Every supported MCS flavour (GKE, upstream MCS API) creates a ServiceImport in each member cluster "
              "for every export; a committed one is overwritten by the controller or, when nothing is exported, "
              "promises a name that never gets endpoints.",
    fix="Delete the ServiceImport and export the Service with a ServiceExport in the cluster that runs it.",
    check=check,
)
