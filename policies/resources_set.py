"""CPU and memory requests and a memory limit on every container, init containers included."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import dig, pod_containers

REQUIRED = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(objects):
        resources = c.get("resources")
        for key in REQUIRED:
            if dig(resources, key) in (None, ""):
                yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} sets no resources.{'.'.join(key)}",
                                path + ("resources",) + key)


POLICY = Policy(
    id="resources-set",
    severity=Severity.ERROR,
    summary="Every container (init containers too) sets CPU and memory requests and a memory limit.",
    rationale="Without requests the scheduler overcommits nodes; without a memory limit one leaking "
              "container can get its neighbours OOM-killed.",
    fix="Add resources.requests.cpu, resources.requests.memory and resources.limits.memory.",
    check=check,
)
