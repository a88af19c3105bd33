"""A probe checks a port the container declares: a typo'd probe port restarts healthy pods forever."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._k8s import exposed, pod_containers, port_keys

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
HANDLERS = ("httpGet", "tcpSocket", "grpc")


def check(fleet: Fleet) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(fleet):
        declared = port_keys((c,))
        for probe in PROBES:
            handlers = c.get(probe) or {}
            for handler in HANDLERS:
                port = (handlers.get(handler) or {}).get("port")
                if port is None or str(port) in declared:
                    continue
                yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} {probe} {handler} "
                                   f"port {port} is not a port the container exposes (it exposes {exposed([c])})",
                                path + (probe, handler, "port"))


POLICY = Policy(
    id="probe-port-exposed",
    severity=Severity.ERROR,
    summary="httpGet/tcpSocket/grpc probe ports are ports the container declares (number or name).",
    rationale="A probe on a port nobody listens on fails forever: liveness restarts the pod in a "
              "loop, readiness keeps it out of every Service.",
    fix="Point the probe at a declared containerPort or port name, or declare the port.",
    check=check,
)
