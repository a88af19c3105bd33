"""An in-cluster Service name for a Service that only another cluster runs does not resolve: MCS serves it as clusterset.local."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._mcs import (Usage, clusterset_name, clusterset_of, clusterset_services, exports_by_name, local_service,
                   used_hosts)


def _problem(fleet: Fleet, use: Usage, ns: str, name: str, exported: set[str]) -> str | None:
    cluster = use.resource.cluster
    if fleet.get(cluster, "Service", ns, name) is not None:
        return None
    others = [s.cluster for s in clusterset_services(fleet, cluster, ns, name) if s.cluster != cluster]
    if not others:
        return None
    exporter = next((c for c in others if c in exported), None)
    if exporter:
        has = f"{exporter} has Service {ns}/{name} and exports it"
    else:
        has = f"{others[0]} has Service {ns}/{name} but does not export it (add a ServiceExport there)"
    suggestion = use.ref.replace_host(clusterset_name(ns, name))
    return f"no Service {ns}/{name} exists in {cluster}, so the name does not resolve there; {has}: use {suggestion}"


def check(fleet: Fleet) -> Iterator[Violation]:
    exports, clustersets = exports_by_name(fleet), clusterset_of(fleet)
    for use in used_hosts(fleet):
        target = local_service(use.ref.host)
        if target is None:
            continue
        ns, name = target
        exported = {e.cluster for e in exports.get((clustersets[use.resource.cluster], ns, name), ())}
        problem = _problem(fleet, use, ns, name, exported)
        if problem:
            yield use.violation(problem)


POLICY = Policy(
    id="mcs-local-name-not-served",
    severity=Severity.ERROR,
    summary="A *.svc.cluster.local (or <svc>.<ns>.svc) name a workload uses is served by a Service in its own cluster.",
    rationale="cluster.local names resolve only to Services of the caller's own cluster; a Service that runs in "
              "another cluster of the clusterset is reachable only through its clusterset.local name.",
    fix="Call <svc>.<ns>.svc.clusterset.local and export the Service from the cluster that runs it.",
    check=check,
    scope="clusterset",
)
