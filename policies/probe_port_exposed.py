"""A probe checks a port the container declares: a typo'd probe port restarts healthy pods forever."""
from __future__ import annotations

from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import exposed, pod_containers, port_keys

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
HANDLERS = ("httpGet", "tcpSocket", "grpc")


def _protocols(c: dict[str, Any]) -> dict[str, set[str]]:
    """Each declared port (number and name, as text) with the protocols it is declared with (default TCP)."""
    out: dict[str, set[str]] = {}
    for p in c.get("ports") or ():
        if isinstance(p, dict):
            for key in ("containerPort", "name"):
                if p.get(key) is not None:
                    out.setdefault(str(p[key]), set()).add(str(p.get("protocol") or "TCP"))
    return out


def _who(r: Resource, c: dict[str, Any], probe: str, handler: str, port: Any) -> str:
    return f"{r.cluster} {r.ref} container {c.get('name')} {probe} {handler} port {port}"


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(objects):
        declared = port_keys((c,))
        protocols = _protocols(c) if any(isinstance(p, dict) and p.get("protocol") not in (None, "TCP")
                                         for p in c.get("ports") or ()) else {}
        for probe in PROBES:
            handlers = c.get(probe) or {}
            for handler in HANDLERS:
                port = (handlers.get(handler) or {}).get("port")
                if port is None:
                    continue
                if str(port) not in declared:
                    yield Violation(r, f"{_who(r, c, probe, handler, port)} is not a port the container exposes "
                                       f"(it exposes {exposed([c])})", path + (probe, handler, "port"))
                elif protocols and handler != "grpc" and "TCP" not in protocols.get(str(port), {"TCP"}):
                    # httpGet and tcpSocket connect over TCP; a port declared only as UDP/SCTP never answers.
                    yield Violation(r, f"{_who(r, c, probe, handler, port)} is declared as "
                                       f"{'/'.join(sorted(protocols[str(port)]))} only, and a {handler} probe "
                                       "connects over TCP", path + (probe, handler, "port"))


POLICY = Policy(
    id="probe-port-exposed",
    severity=Severity.ERROR,
    summary="httpGet/tcpSocket/grpc probe ports are ports the container declares (number or name), over TCP.",
    rationale="A probe on a port nobody listens on fails forever: liveness restarts the pod in a "
              "loop, readiness keeps it out of every Service.",
    fix="Point the probe at a declared containerPort or port name, or declare the port.",
    check=check,
)
