"""Namespaced objects say which namespace they live in; `default` is shared by everyone and by accident."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import scopes

def _candidates(objects: Objects, cluster: str) -> list[Resource]:
    """The cluster's objects without a namespace or in default, in order, from the fleet's namespace index."""
    bare, default = objects.in_namespace(cluster, ""), objects.in_namespace(cluster, "default")
    if bare and default:
        return [r for r in objects.resources[cluster] if r.namespace in ("", "default")]
    return bare or default


def check(objects: Objects) -> Iterator[Violation]:
    kinds = scopes(objects)
    for cluster in objects.resources:
        for r in _candidates(objects, cluster):
            if kinds.cluster_scoped(r.group, r.kind):  # built-ins, and custom kinds by their CRD's scope
                continue
            how = "in namespace default" if r.namespace else "without a namespace, so in namespace default"
            yield Violation(r, f"{r.cluster} {r.ref} is {how}; give it its application's namespace",
                            ("metadata", "namespace"))


POLICY = Policy(
    id="no-default-namespace",
    severity=Severity.ERROR,
    summary="No namespaced object lands in the default namespace (an unset namespace counts); "
            "cluster-scoped kinds, built-in or from a locked CRD, are exempt.",
    rationale="default has no owner: its RBAC, quotas and network policies are nobody's, and an "
              "unset namespace silently follows whatever context or sync target applies it.",
    fix="Set the namespace in the object or with `namespace:` in its kustomization.",
    check=check,
)
