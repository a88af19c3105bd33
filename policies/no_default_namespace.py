"""Namespaced objects say which namespace they live in; `default` is shared by everyone and by accident."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

# Cluster-scoped kinds that must not have a namespace (a small, common set; CRs are assumed namespaced).
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass", "GatewayClass", "RuntimeClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Node", "CSIDriver",
})


def check(fleet: Fleet) -> Iterator[Violation]:
    for r in fleet.all():
        if r.kind in CLUSTER_SCOPED or r.namespace not in ("", "default"):
            continue
        how = "in namespace default" if r.namespace else "without a namespace, so in namespace default"
        yield Violation(r, f"{r.cluster} {r.ref} is {how}; give it its application's namespace",
                        ("metadata", "namespace"))


POLICY = Policy(
    id="no-default-namespace",
    severity=Severity.ERROR,
    summary="No namespaced object lands in the default namespace (an unset namespace counts).",
    rationale="default has no owner: its RBAC, quotas and network policies are nobody's, and an "
              "unset namespace silently follows whatever context or sync target applies it.",
    fix="Set the namespace in the object or with `namespace:` in its kustomization.",
    check=check,
)
