"""MCS namespace sameness: a namespace that exports or is called into exists, labelled alike, in every cluster involved."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Parameter, Policy, Settings, Violation

from gitops.model import calls as _resolve
from gitops.model.mcs import clusterset_of, exports_by_name, listing

# Labels the mesh reads off a namespace: sidecar injection and the control-plane revision.
MESH_LABELS = ("istio-injection", "istio.io/rev")
MESH_LABELS_PARAMETER = Parameter("meshLabels", "strings", MESH_LABELS,
                                  "Namespace labels that must agree across the clusters of a namespace")


def _where(objects: Objects, clusterset: str, ns: str) -> str:
    present = [c.name for c in objects.inventory.members(clusterset) if objects.get(c.name, "Namespace", "", ns)]
    why = f"namespace sameness needs it in every cluster that exports or calls into {ns}"
    return f"{why} (it exists in {listing(present)})" if present else why


def _missing(objects: Objects, involved: dict[tuple[str, str], set[str]],
             address_keys: tuple[str, ...]) -> Iterator[Violation]:
    """Exports and callers in clusters that lack the namespace; records who is involved where."""
    for (clusterset, ns, name), exports in exports_by_name(objects).items():
        for e in exports:
            involved[(clusterset, ns)].add(e.cluster)
            if objects.get(e.cluster, "Namespace", "", ns) is None:
                yield Violation(e, f"{e.cluster} ServiceExport {ns}/{name} exports from namespace {ns}, but "
                                   f"{e.cluster} has no Namespace {ns}; {_where(objects, clusterset, ns)}",
                                ("metadata", "namespace"))
    clustersets = clusterset_of(objects)
    for v in _resolve.verdicts(objects, address_keys):
        if v.kind != _resolve.CLUSTERSET:
            continue
        cluster, ns = v.cluster, v.namespace
        clusterset = clustersets[cluster]
        involved[(clusterset, ns)].add(cluster)
        if objects.get(cluster, "Namespace", "", ns) is None:
            yield Violation(v.resource, f"{v.use.caller} calls {v.use.ref.text}, but {cluster} has no Namespace "
                                        f"{ns}; {_where(objects, clusterset, ns)}", v.path)


def _label_mismatches(objects: Objects, clusterset: str, ns: str, clusters: set[str],
                      mesh_labels: tuple[str, ...]) -> Iterator[Violation]:
    """Each involved Namespace compared with the first one in inventory order."""
    namespaces = [n for c in objects.inventory.members(clusterset) if c.name in clusters
                  for n in [objects.get(c.name, "Namespace", "", ns)] if n is not None]
    for other in namespaces[1:]:
        first = namespaces[0]
        for key in mesh_labels:
            want, got = first.labels.get(key), other.labels.get(key)
            if want != got:
                yield Violation(other, f"Namespace {ns} has {key}={got or '(unset)'} in {other.cluster} but "
                                       f"{key}={want or '(unset)'} in {first.cluster}; clusters of clusterset "
                                       f"{clusterset} that export or call into {ns} should label it alike",
                                ("metadata", "labels", key), severity=Severity.WARNING)


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    involved: dict[tuple[str, str], set[str]] = defaultdict(set)
    yield from _missing(objects, involved, tuple(settings["addressKeys"]))
    for (clusterset, ns), clusters in involved.items():
        yield from _label_mismatches(objects, clusterset, ns, clusters, tuple(settings["meshLabels"]))


POLICY = Policy(
    id="mcs-namespace-sameness",
    severity=Severity.ERROR,
    summary="A namespace that exports or is called into exists in every cluster involved, with the same mesh labels.",
    rationale="MCS treats a namespace of the same name as one namespace across the clusterset: an export is "
              "imported only into clusters that have its namespace, and a namespace injected with a sidecar in "
              "one cluster but not another breaks mTLS between the two ends.",
    fix="Add the Namespace object (base/namespace) to every exporting and calling cluster, with the same "
        "istio-injection / istio.io/rev labels.",
    check=check,
    scope="clusterset",
    parameters=(MESH_LABELS_PARAMETER, _resolve.ADDRESS_KEYS_PARAMETER),
)
