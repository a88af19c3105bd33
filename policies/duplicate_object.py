"""Two objects with the same kind, namespace and name in one cluster: the sync engine applies one and loses the other."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.rules import Also, Policy, Violation
from gitops.model.objects import Objects


def check(objects: Objects) -> Iterator[Violation]:
    # The fleet's (cluster, kind, namespace, name) index already meets every repeat while it is built.
    for first, r in objects.repeats:
        yield Violation(r, f"{r.ref} is declared twice in cluster {r.cluster} "
                           f"(as {r.api_version} and {first.api_version})", ("metadata", "name"),
                        related=(Also(first, ("metadata", "name"), f"the other {first.kind} {first.name}"),))


POLICY = Policy(
    id="duplicate-object",
    severity=Severity.ERROR,
    summary="No two objects with the same kind, namespace and name in one cluster.",
    rationale="Argo CD and Config Sync apply one of the two and silently drop the other.",
    fix="Rename one of the objects or remove the duplicate resource from the overlay.",
    check=check,
)
