"""An in-cluster name resolves only to a Service of the caller's own cluster, through the pod's search path."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Settings, Violation

from gitops.model import calls as _resolve


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    """Every broken in-cluster verdict of the resolver (`_resolve.verdicts`)."""
    yield from _resolve.broken(objects, _resolve.RULE_LOCAL, tuple(settings["addressKeys"]))


POLICY = Policy(
    id=_resolve.RULE_LOCAL,
    severity=Severity.ERROR,
    summary="An in-cluster name a workload uses (<svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local) "
            "resolves, through the pod's search path, to a Service of its own cluster on a port it has.",
    rationale="The pod's resolver (ndots:5, search <ns>.svc.cluster.local svc.cluster.local cluster.local) "
              "expands short names to cluster.local names, which resolve only to Services of the caller's own "
              "cluster; a Service that runs in another cluster of the clusterset is reachable only through its "
              "clusterset.local name, and a port the Service lacks is refused.",
    fix="Call <svc>.<ns>.svc.clusterset.local and export the Service from the cluster that runs it, or correct "
        "the name or port.",
    check=check,
    scope="clusterset",
    parameters=(_resolve.ADDRESS_KEYS_PARAMETER,),
)
