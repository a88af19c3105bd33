"""A clusterset.local name a workload calls must be exported, imported into the caller's cluster, and on an exported port."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Settings, Violation

from gitops.model import calls as _resolve


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    """Every broken clusterset verdict of the resolver (`_resolve.verdicts`)."""
    yield from _resolve.broken(objects, _resolve.RULE_CLUSTERSET, tuple(settings["addressKeys"]))


POLICY = Policy(
    id=_resolve.RULE_CLUSTERSET,
    severity=Severity.ERROR,
    summary="Every *.svc.clusterset.local name a workload uses is exported, imported into its cluster, and on an exported port.",
    rationale="A clusterset.local name resolves only when some cluster of the clusterset exports that Service, "
              "the calling cluster has the namespace (namespace sameness), and traffic goes to a port the "
              "Service has; otherwise the caller gets NXDOMAIN or a refused connection at run time.",
    fix="Export the Service (ServiceExport) from the cluster that runs it, correct the host name or port in the "
        "URL, or add the namespace to the calling cluster.",
    check=check,
    scope="clusterset",
    parameters=(_resolve.ADDRESS_KEYS_PARAMETER,),
)
