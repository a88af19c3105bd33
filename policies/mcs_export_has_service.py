"""A ServiceExport exports the Service of the same name in its own cluster; without one, nothing is exported."""
from __future__ import annotations

import difflib
from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import names_in
from gitops.model.mcs import clusterset_services, exported_service, exports_by_name, listing


def _instead(objects: Objects, export: Resource) -> str:
    """What exists instead: a similarly named Service here, or the same Service in other clusters."""
    ns, name = export.namespace, export.name
    close = difflib.get_close_matches(name, names_in(objects, export.cluster, "Service", ns), n=3)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    elsewhere = [s.cluster for s in clusterset_services(objects, export.cluster, ns, name) if s.cluster != export.cluster]
    if elsewhere:
        return f"; {listing(elsewhere)} {'has' if len(elsewhere) == 1 else 'have'} Service {ns}/{name}"
    return ""


def check(objects: Objects) -> Iterator[Violation]:
    for exports in exports_by_name(objects).values():
        for export in exports:
            ns, name, cluster = export.namespace, export.name, export.cluster
            service = exported_service(objects, export)
            if service is None:
                yield Violation(export, f"{cluster} ServiceExport {ns}/{name} exports Service {ns}/{name}, "
                                        f"which does not exist in {cluster}{_instead(objects, export)}",
                                ("metadata", "name"))
            elif (service.body.get("spec") or {}).get("type") == "ExternalName":
                yield Violation(service, f"{cluster} Service {ns}/{name} is exported by a ServiceExport but is "
                                         f"type ExternalName, which MCS cannot export (it has no endpoints)",
                                ("spec", "type"))


POLICY = Policy(
    id="mcs-export-has-service",
    severity=Severity.ERROR,
    summary="Every ServiceExport has a Service of the same name and namespace in its cluster, not of type ExternalName.",
    rationale="The MCS controller exports the Service a ServiceExport names; without one (or with an ExternalName "
              "Service, which has no endpoints) the clusterset name never gets backends and callers fail.",
    fix="Create the Service in the exporting cluster, fix the ServiceExport's name, or export a selector-based Service.",
    check=check,
    scope="clusterset",
)
