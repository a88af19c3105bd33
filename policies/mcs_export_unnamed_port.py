"""An exported Service port without a name gets no SRV record in clusterset.local DNS."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import exported_service, is_mcs, service_ports


def check(objects: Objects) -> Iterator[Violation]:
    for e in objects.of_kind("ServiceExport"):
        service = exported_service(objects, e) if is_mcs(e) else None
        for i, p in enumerate(service_ports(service) if service else ()):
            if not p.get("name"):
                yield Violation(service, f"{e.cluster} Service {e.namespace}/{e.name} is exported but port "
                                         f"{p.get('port')}/{p.get('protocol') or 'TCP'} has no name, so "
                                         f"clusterset.local DNS publishes no SRV record for it",
                                ("spec", "ports", i))


POLICY = Policy(
    id="mcs-export-unnamed-port",
    severity=Severity.WARNING,
    summary="Every port of an exported Service has a name.",
    rationale="MCS DNS publishes _<port>._<protocol>.<svc>.<ns>.svc.clusterset.local SRV records only for named "
              "ports; clients that discover ports by SRV (gRPC, some service meshes) cannot find an unnamed one.",
    fix="Give the Service port a name (e.g. http, grpc).",
    check=check,
)
