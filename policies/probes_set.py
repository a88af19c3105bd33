"""Liveness and readiness probes on every app container: without them traffic reaches dead pods."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._k8s import pod_containers

PROBES = ("livenessProbe", "readinessProbe")


def check(fleet: Fleet) -> Iterator[Violation]:
    for r, path, init, c in pod_containers(fleet):
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
