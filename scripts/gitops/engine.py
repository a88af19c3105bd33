"""Policy stage: run every registered policy over the whole fleet and locate what they find."""
from __future__ import annotations

from typing import Iterable

from .findings import Finding, Related, SourceLocation
from .policy import Fleet, Policy, Violation
from .sourcemap import SourceMap


def path_text(path: Iterable[object]) -> str:
    out = ""
    for elem in path:
        out += f"[{elem}]" if isinstance(elem, int) else (f".{elem}" if out else str(elem))
    return out


def to_finding(policy: Policy, v: Violation, fleet: Fleet, sources: SourceMap) -> Finding:
    location: SourceLocation | None = None
    cluster = v.cluster or (v.resource.cluster if v.resource else None)
    if v.resource is not None:
        location = sources.locate(v.resource, v.path)
    elif cluster is not None:
        # A finding about the cluster itself (e.g. its inventory entry) points at the inventory.
        location = SourceLocation("inventory.yaml", fleet.cluster(cluster).line)
    return Finding(
        rule=policy.id,
        severity=v.severity or policy.severity,
        message=v.message,
        cluster=cluster,
        obj=v.resource.ref if v.resource else None,
        field_path=path_text(v.path) or None,
        fix=policy.fix,
        location=location,
        related=tuple(Related(loc, a.note) for a in v.related
                      if (loc := sources.locate(a.resource, a.path)) is not None),
    )


def run_policies(policies: Iterable[Policy], fleet: Fleet, sources: SourceMap) -> list[Finding]:
    found = [(p, v) for p in policies for v in p.run(fleet)]
    # Every object to locate is known before the first is located: their annotated builds run in parallel.
    sources.prefetch([r for _, v in found
                      for r in ((v.resource,) if v.resource else ()) + tuple(a.resource for a in v.related)])
    return [to_finding(p, v, fleet, sources) for p, v in found]
