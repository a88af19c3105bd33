"""Two objects with the same kind, namespace and name in one cluster: the sync engine applies one and loses the other."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation


def check(fleet: Fleet) -> Iterator[Violation]:
    for cluster, resources in fleet.resources.items():
        seen: dict[tuple[str, str, str], str] = {}
        for r in resources:
            key = (r.kind, r.namespace, r.name)
            if key in seen:
                yield Violation(r, f"{r.ref} is declared twice in cluster {cluster} "
                                   f"(also from {seen[key]})", ("metadata", "name"))
            else:
                seen[key] = r.origin or r.generated_by or "a generator"


POLICY = Policy(
    id="duplicate-object",
    severity=Severity.ERROR,
    summary="No two objects with the same kind, namespace and name in one cluster.",
    rationale="Argo CD and Config Sync apply one of the two and silently drop the other.",
    fix="Rename one of the objects or remove the duplicate resource from the overlay.",
    check=check,
)
