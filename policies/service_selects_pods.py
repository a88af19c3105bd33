"""A Service's selector matches some pod template in its cluster and namespace, or it has no endpoints."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import PodIndex, label_text, listing, selections


def _culprit(pods: PodIndex, svc: Resource, selector: dict[str, str]) -> tuple[str, ...]:
    """The selector entry no pod template in the namespace carries (the likely typo), else the selector."""
    for key, value in selector.items():
        if not pods.has_label(svc.cluster, svc.namespace, key, value):
            return ("spec", "selector", key)
    return ("spec", "selector")


def check(objects: Objects) -> Iterator[Violation]:
    pods = PodIndex.of(objects)
    for svc, selector, selected in selections(objects):
        if selected:
            continue
        there = [f"{p.resource.kind} {p.resource.name} ({label_text(p.labels)})"
                 for p in pods.in_namespace(svc.cluster, svc.namespace)]
        yield Violation(svc, f"{svc.cluster} {svc.ref} selects {label_text(selector)}, but no pod template in "
                             f"{svc.cluster} namespace {svc.namespace or 'default'} has those labels "
                             f"(pod templates there: {listing(there)})",
                        _culprit(pods, svc, selector))


POLICY = Policy(
    id="service-selects-pods",
    severity=Severity.ERROR,
    summary="A Service's selector matches some pod template in the same cluster and namespace.",
    rationale="A selector that matches no pods gives the Service no endpoints: clients get connection "
              "refused or 503s while every object looks healthy.",
    fix="Make the Service's spec.selector equal to (a subset of) the workload's pod template labels.",
    check=check,
)
