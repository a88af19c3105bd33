"""ServiceExport and ServiceImport status belongs to the MCS controller, never to the repository."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import is_mcs


def check(objects: Objects) -> Iterator[Violation]:
    for kind in ("ServiceExport", "ServiceImport"):
        for r in objects.of_kind(kind):
            if is_mcs(r) and "status" in r.body:
                yield Violation(r, f"{r.cluster} {kind} {r.namespace}/{r.name} commits a status; the MCS "
                                   f"controller writes it (conditions, ports, IPs)", ("status",))


POLICY = Policy(
    id="mcs-no-committed-status",
    severity=Severity.ERROR,
    summary="No status on committed ServiceExports and ServiceImports.",
    rationale="The MCS controller owns status (export conditions, imported ports and IPs); a committed status is "
              "stale at best, and a sync engine that applies it fights the controller or shows drift forever.",
    fix="Delete the status block from the manifest.",
    check=check,
)
