"""A Service's targetPort is a port its pods expose, or traffic is sent to a closed port."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import containers, exposed, listing, selections


def check(objects: Objects) -> Iterator[Violation]:
    for svc, _, selected in selections(objects):
        if not selected:
            continue  # service-selects-pods reports it
        for i, port in enumerate((svc.body.get("spec") or {}).get("ports") or ()):
            target = port.get("targetPort", port.get("port"))
            if target is None or any(str(target) in p.ports for p in selected):
                continue
            owners = listing([f"{p.resource.kind} {p.resource.name}" for p in selected])
            ctrs = [c for p in selected for _, _, c in containers(p.spec, init=False)]
            yield Violation(svc, f"{svc.cluster} {svc.ref} port {port.get('name') or port.get('port')} targets "
                                 f"{target}, but the pods it selects ({owners}) expose {exposed(ctrs)}",
                            ("spec", "ports", i, "targetPort"))


POLICY = Policy(
    id="service-target-port",
    severity=Severity.ERROR,
    summary="A Service's targetPort (number or name; default: port) is a port of the pods it selects.",
    rationale="kube-proxy forwards to the targetPort whether or not anything listens there; a wrong "
              "number or a misspelt port name gives refused connections.",
    fix="Set targetPort to a containerPort or port name of the selected containers.",
    check=check,
)
