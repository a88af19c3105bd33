"""Which kinds are cluster-scoped: the Kubernetes built-ins from a well-known list, custom kinds from
their locked CRD's `spec.scope` (read by the run: infra/crds.py), GKE's hand-written net.gke.io kinds (namespaced).
And each kind's resource name (what RBAC rules name): a locked CRD's `spec.names.plural`, else Kubernetes' own rule.

The built-in schemas (kubernetes-validate) do not record scope, so the built-ins are listed here; the
list covers every cluster-scoped kind of Kubernetes 1.25 to 1.37. A kind that is neither built in nor
locked is treated as namespaced (schema-unknown-kind reports it anyway).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

BUILTIN_CLUSTER_SCOPED = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"), ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"), ("networking.k8s.io", "ServiceCIDR"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"), ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
    ("internal.apiserver.k8s.io", "StorageVersion"), ("storagemigration.k8s.io", "StorageVersionMigration"),
    ("authentication.k8s.io", "TokenReview"), ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"), ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"), ("policy", "PodSecurityPolicy"),
})


def guessed_resource(kind: str) -> str:
    """The resource name Kubernetes derives from a kind when nothing says otherwise: apimachinery's
    meta.UnsafeGuessKindToResource (lower case; "endpoints" stays; -s takes -es, -y takes -ies, else -s). Every
    built-in kind's resource follows it; a custom kind's is its CRD's plural (Gateway: gateways, not gatewaies)."""
    singular = kind.lower()
    if not singular or singular.endswith("endpoints"):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


class Scopes:
    """Which kinds are cluster-scoped: the built-ins, then the custom kinds `custom()` returns
    ({"<group>/<Kind>": "Cluster" | "Namespaced"}, the locked CRDs' spec.scope). The run passes its one CRD
    lookup as `custom`, called once, on first need: a clean run whose policies ask nothing never reads the CRDs.
    `plurals()` ({"<group>/<Kind>": plural}) names the locked CRDs' resources, likewise read on first need."""

    def __init__(self, custom: Callable[[], Mapping[str, str]] | None = None,
                 plurals: Callable[[], Mapping[str, str]] | None = None) -> None:
        self._load = custom
        self._crds: Mapping[str, str] | None = None
        self._load_plurals = plurals
        self._plurals: Mapping[str, str] | None = None

    def _custom(self) -> Mapping[str, str]:
        if self._crds is None:
            self._crds = self._load() if self._load is not None else {}
        return self._crds

    def cluster_scoped(self, group: str, kind: str) -> bool:
        if (group, kind) in BUILTIN_CLUSTER_SCOPED:
            return True
        return self._custom().get(f"{group}/{kind}") == "Cluster"

    def resource(self, group: str, kind: str) -> str:
        """The resource name of a kind (what an RBAC rule names): its locked CRD's plural, else Kubernetes' rule.
        A group without a dot is a Kubernetes one and never needs the CRDs."""
        if "." in group and self._load_plurals is not None:
            if self._plurals is None:
                self._plurals = self._load_plurals()
            found = self._plurals.get(f"{group}/{kind}")
            if found:
                return found
        return guessed_resource(kind)
