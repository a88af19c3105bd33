"""A clusterset.local name a workload calls must be exported, imported into the caller's cluster, and on an exported port."""
from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Iterator

from gitops.findings import Severity
from gitops.manifests import Resource
from gitops.policy import Also, Fleet, Policy, Violation

from ._mcs import (Usage, clusterset_of, clusterset_service, clusterset_services, exported_service, exports_by_name,
                   listing, port_numbers, used_hosts)


class _Clustersets:
    """Exports and Services of each clusterset, indexed once per check."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.exports = exports_by_name(fleet)
        self.clusterset_of = clusterset_of(fleet)
        self.exported_in: dict[tuple[str, str], list[str]] = defaultdict(list)
        for clusterset, ns, name in self.exports:
            self.exported_in[(clusterset, ns)].append(name)
        self._ports: dict[tuple[str, str, str], set[int]] = {}

    def instead(self, caller: str, clusterset: str, ns: str, name: str) -> str:
        """What exists in place of an unexported name, for the message."""
        have = [s.cluster for s in clusterset_services(self.fleet, caller, ns, name)]
        if have:
            return f"; {listing(have)} {'has' if len(have) == 1 else 'have'} Service {ns}/{name} but no ServiceExport"
        exported = sorted(self.exported_in.get((clusterset, ns), ()))
        close = difflib.get_close_matches(name, exported, n=3)
        if close:
            return f"; did you mean {' or '.join(close)}?"
        if exported:
            return f"; exported from {ns}: {', '.join(exported)}"
        return f"; nothing is exported from namespace {ns}"

    def exported(self, key: tuple[str, str, str]) -> list[Resource]:
        """The exported Service in every exporting cluster that has it."""
        return [s for e in self.exports[key] if (s := exported_service(self.fleet, e)) is not None]

    def ports(self, key: tuple[str, str, str]) -> set[int]:
        """Ports of the exported Service in every exporting cluster that has it, computed once per export."""
        if key not in self._ports:
            self._ports[key] = {p for s in self.exported(key) for p in port_numbers(s)}
        return self._ports[key]


def _problem(sets: _Clustersets, use: Usage, ns: str, name: str) -> tuple[str, tuple[Also, ...]] | None:
    """What is wrong with one call, and the other end(s) of it: where a fix may be written instead."""
    fleet, cluster = sets.fleet, use.resource.cluster
    clusterset = sets.clusterset_of[cluster]
    if (clusterset, ns, name) not in sets.exports:
        others = tuple(Also(s, ("metadata", "name"), f"{s.cluster} Service {ns}/{name}, not exported")
                       for s in clusterset_services(fleet, cluster, ns, name))
        instead = sets.instead(cluster, clusterset, ns, name)
        return f"no cluster in clusterset {clusterset} exports {ns}/{name}{instead}", others
    if fleet.get(cluster, "Namespace", "", ns) is None:
        return (f"namespace {ns} does not exist in {cluster}; MCS imports {ns}/{name} only into clusters "
                f"that have the namespace"), ()
    port, ports = use.ref.service_port, sets.ports((clusterset, ns, name))
    if port is not None and ports and port not in ports:
        exported = tuple(Also(s, ("spec", "ports", i, "port"), f"{s.cluster} Service {ns}/{name} port {p.get('port')}")
                         for s in sets.exported((clusterset, ns, name))
                         for i, p in enumerate(s.body["spec"].get("ports") or []))
        return (f"port {port} is not a port of the exported Service {ns}/{name}; "
                f"exported ports are {', '.join(map(str, sorted(ports)))}"), exported
    return None


def check(fleet: Fleet) -> Iterator[Violation]:
    sets = _Clustersets(fleet)
    for use in used_hosts(fleet):
        target = clusterset_service(use.ref.host)
        if target is None:
            continue
        problem = _problem(sets, use, *target)
        if problem:
            yield use.violation(*problem)


POLICY = Policy(
    id="mcs-clusterset-url-resolves",
    severity=Severity.ERROR,
    summary="Every *.svc.clusterset.local name a workload uses is exported, imported into its cluster, and on an exported port.",
    rationale="A clusterset.local name resolves only when some cluster of the clusterset exports that Service, "
              "the calling cluster has the namespace (namespace sameness), and traffic goes to a port the "
              "Service has; otherwise the caller gets NXDOMAIN or a refused connection at run time.",
    fix="Export the Service (ServiceExport) from the cluster that runs it, correct the host name or port in the "
        "URL, or add the namespace to the calling cluster.",
    check=check,
    scope="clusterset",
)
