"""Multi-Cluster Services facts shared by the mcs-* policies: exports and the Services they export.

Which host a workload calls and what it resolves to is `_resolve`'s (the resolver model); this module
only knows exports and Services. Small API:

- `MCS_GROUPS`, `is_mcs(resource)`: the API groups of ServiceExport/ServiceImport we recognise.
- `exports_by_name(fleet)`: every ServiceExport indexed by (clusterset, namespace, name), once per
  fleet (read-only); `clusterset_of(fleet)`: each cluster's clusterset.
- `exported_service(fleet, export)`: the Service a ServiceExport exports;
  `clusterset_services(fleet, cluster, ns, name)`: that Service in every cluster of a clusterset.
- `service_ports(service)`, `port_numbers(service)`, `is_headless(service)`: Service facts MCS exports.
- `listing(items)`: "a, b and c" for messages.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from gitops.model.resources import Resource
from gitops.model.objects import Objects

# net.gke.io is GKE's; multicluster.x-k8s.io the upstream MCS API; multicluster.k8s.io the KEP's example.
MCS_GROUPS = ("net.gke.io", "multicluster.x-k8s.io", "multicluster.k8s.io")


def is_mcs(resource: Resource) -> bool:
    return resource.group in MCS_GROUPS


def clusterset_of(objects: Objects) -> dict[str, str]:
    """Each cluster's clusterset, for lookups per object."""
    return {c.name: c.clusterset for c in objects.clusters}


def exports_by_name(objects: Objects) -> dict[tuple[str, str, str], list[Resource]]:
    """ServiceExports by (clusterset, namespace, name), exporting clusters in inventory order (do not modify)."""
    return objects.derived(_index_exports)


def _index_exports(objects: Objects) -> dict[tuple[str, str, str], list[Resource]]:
    index: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
    for cluster in objects.clusters:
        for r in objects.of_kind("ServiceExport", cluster.name):
            if is_mcs(r):
                index[(cluster.clusterset, r.namespace, r.name)].append(r)
    return dict(index)


def exported_service(objects: Objects, export: Resource) -> Resource | None:
    """The Service a ServiceExport exports: same cluster, namespace and name."""
    return objects.get(export.cluster, "Service", export.namespace, export.name)


def clusterset_services(objects: Objects, cluster: str, namespace: str, name: str) -> list[Resource]:
    """The Service of that name in every cluster of `cluster`'s clusterset (itself included), in inventory order."""
    found = (objects.get(c.name, "Service", namespace, name) for c in objects.clusterset_members(cluster))
    return [s for s in found if s is not None]


def service_ports(service: Resource) -> list[dict[str, Any]]:
    return [p for p in (service.body.get("spec") or {}).get("ports") or () if isinstance(p, dict)]


def port_numbers(service: Resource) -> set[int]:
    return {p["port"] for p in service_ports(service) if isinstance(p.get("port"), int)}


def is_headless(service: Resource) -> bool:
    return (service.body.get("spec") or {}).get("clusterIP") == "None"


def listing(items: list[str]) -> str:
    """"a", "a and b", "a, b and c": cluster and name lists in messages."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
