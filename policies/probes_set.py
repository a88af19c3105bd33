"""Liveness and readiness probes on every app container: without them traffic reaches dead pods."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import pod_containers

PROBES = ("livenessProbe", "readinessProbe")


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, init, c in pod_containers(objects):
        if init:
            continue  # init containers run to completion: no probes
        for probe in PROBES:
            if not c.get(probe):
                yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} has no {probe}", path + (probe,))


POLICY = Policy(
    id="probes-set",
    severity=Severity.ERROR,
    summary="Every (non-init) container has a liveness and a readiness probe.",
    rationale="Without readiness a Service sends traffic to pods that cannot serve; without liveness "
              "a hung process is never restarted.",
    fix="Add livenessProbe and readinessProbe (e.g. httpGet on the health endpoint).",
    check=check,
)
