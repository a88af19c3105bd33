"""Pod templates reference a ServiceAccount and ConfigMaps that the same cluster and namespace define."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import Path, configmap_refs, listing, names_in, pod_specs


def check(objects: Objects) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(objects):
        cluster, namespace = r.cluster, r.namespace
        wanted: list[tuple[str, str, Path]] = [("ConfigMap", ref.name, ref.path)
                                               for ref in configmap_refs(spec, prefix) if not ref.optional]
        # The deprecated serviceAccount still names it: the API server copies it into an empty serviceAccountName.
        field = "serviceAccountName" if spec.get("serviceAccountName") else "serviceAccount"
        sa = spec.get(field)
        if sa and sa != "default":
            wanted.insert(0, ("ServiceAccount", str(sa), prefix + (field,)))
        for kind, name, path in wanted:
            if objects.get(cluster, kind, namespace, name) is None:
                there = listing(names_in(objects, cluster, kind, namespace))
                yield Violation(r, f"{cluster} {r.ref} uses {kind} {namespace}/{name}, but {cluster} has "
                                   f"no such {kind} ({kind}s in {namespace or 'default'}: {there})", path)


POLICY = Policy(
    id="reference-exists",
    severity=Severity.ERROR,
    summary="A pod template's serviceAccountName (or deprecated serviceAccount) and required ConfigMaps exist in "
            "its cluster and namespace.",
    rationale="Pods referencing a missing ServiceAccount are never created; a missing ConfigMap leaves "
              "them in CreateContainerConfigError, so the rollout hangs.",
    fix="Fix the reference, add the object to this cluster's overlay, or mark the ConfigMap optional.",
    check=check,
)
