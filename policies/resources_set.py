"""CPU and memory requests and a memory limit on every container, init containers included."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._k8s import containers, dig, pod_specs

REQUIRED = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))


def check(fleet: Fleet) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(fleet):
        for field, i, c in containers(spec):
            for key in REQUIRED:
                if dig(c, ("resources",) + key) in (None, ""):
                    yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} sets no "
                                       f"resources.{'.'.join(key)}",
                                    prefix + (field, i, "resources") + key)


POLICY = Policy(
    id="resources-set",
    severity=Severity.ERROR,
    summary="Every container (init containers too) sets CPU and memory requests and a memory limit.",
    rationale="Without requests the scheduler overcommits nodes; without a memory limit one leaking "
              "container can get its neighbours OOM-killed.",
    fix="Add resources.requests.cpu, resources.requests.memory and resources.limits.memory.",
    check=check,
)
