"""Only two clusterset.local name forms exist; other forms and over-long names never resolve."""
from __future__ import annotations

from typing import Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._mcs import (Usage, clusterset_labels, clusterset_name, clusterset_of, exported_service, exports_by_name,
                   is_headless, used_hosts)

FORMS = ("<svc>.<ns>.svc.clusterset.local, or <hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local "
         "for a headless export")


def _dns_limits(host: str) -> str | None:
    long_label = next((label for label in host.split(".") if len(label) > 63), None)
    if long_label:
        return f"label {long_label} is {len(long_label)} characters; DNS allows at most 63"
    if len(host) > 253:
        return f"the name is {len(host)} characters; DNS allows at most 253"
    return None


class _Names:
    """Cluster names, clustersets and exports, indexed once per check."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.clusterset_of = clusterset_of(fleet)
        self.exports = exports_by_name(fleet)

    def form(self, use: Usage, labels: list[str]) -> str | None:
        """Why the labels before .svc.clusterset.local are not a form MCS serves, or None."""
        if len(labels) == 3 and labels[0] in self.clusterset_of:
            return (f"{labels[0]} is a cluster, and MCS serves no per-cluster Service names; "
                    f"use {clusterset_name(labels[2], labels[1])}")
        if len(labels) == 4:
            return self.pod_name(use, labels[3], labels[2])
        if len(labels) != 2:
            return f"{use.ref.host} is not a clusterset.local name MCS serves ({FORMS})"
        return None

    def pod_name(self, use: Usage, ns: str, svc: str) -> str | None:
        """Per-pod names need a headless export; an unknown export is mcs-clusterset-url-resolves' to report."""
        key = (self.clusterset_of[use.resource.cluster], ns, svc)
        services = [s for e in self.exports.get(key, ()) if (s := exported_service(self.fleet, e)) is not None]
        flat = [s.cluster for s in services if not is_headless(s)]
        if flat:
            return (f"per-pod names exist only for headless exports, and {ns}/{svc} exported from {flat[0]} "
                    f"is not headless (clusterIP is not None); use {clusterset_name(ns, svc)}")
        return None


def check(fleet: Fleet) -> Iterator[Violation]:
    names = _Names(fleet)
    for use in used_hosts(fleet):
        labels = clusterset_labels(use.ref.host)
        if labels is None:
            continue
        problem = _dns_limits(use.ref.host) or names.form(use, labels)
        if problem:
            yield use.violation(problem)


POLICY = Policy(
    id="mcs-clusterset-name-form",
    severity=Severity.ERROR,
    summary="clusterset.local names use a form MCS serves and respect DNS length limits.",
    rationale=f"MCS DNS serves {FORMS}; <clusterid>.<svc>.<ns> and other forms, and names with a label over 63 "
              "or a total over 253 characters, get NXDOMAIN.",
    fix="Call <svc>.<ns>.svc.clusterset.local; address single pods only of headless exports; shorten long names.",
    check=check,
    scope="clusterset",
)
