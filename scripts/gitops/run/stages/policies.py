"""Policy stage: run every configured policy over every cluster's objects at once and locate what they find.

A policy that crashes on an odd object is isolated: the crash becomes an error finding for that object and
the policy runs again without it."""
from __future__ import annotations

from typing import Iterable

from gitops.model.findings import Finding, Related, Severity, SourceLocation, path_text
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation
from gitops.run.sourcemap import SourceMap


def to_finding(policy: Policy, v: Violation, objects: Objects, sources: SourceMap) -> Finding:
    location: SourceLocation | None = None
    cluster = v.cluster or (v.resource.cluster if v.resource else None)
    if v.location is not None:
        location = v.location
    elif v.resource is not None:
        location = sources.locate(v.resource, v.path)
    elif cluster is not None:
        # A finding about the cluster itself (e.g. its inventory entry) points at the inventory.
        location = SourceLocation("inventory.yaml", objects.cluster(cluster).line)
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


MAX_CRASHES = 5  # objects set aside per policy before the rest of its check is given up


def run_policies(policies: Iterable[Policy], objects: Objects, sources: SourceMap) -> list[Finding]:
    found: list[tuple[Policy, Violation]] = []
    crashes: list[tuple[Policy, Resource | None, Exception]] = []
    for p in policies:
        violations, crashed = _run_isolated(p, objects)
        found += [(p, v) for v in violations]
        crashes += [(p, res, exc) for res, exc in crashed]
    # Every object to locate is known before the first is located: their annotated builds run in parallel.
    sources.prefetch([r for _, v in found
                      for r in ((v.resource,) if v.resource else ()) + tuple(a.resource for a in v.related)]
                     + [res for _, res, _ in crashes if res is not None])
    return [_crash_finding(p, res, exc, sources) for p, res, exc in crashes] + \
        [to_finding(p, v, objects, sources) for p, v in found]


def _culprit(exc: BaseException) -> Resource | None:
    """The object the failing code was looking at: the innermost frame's Resource local."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, Resource):
                found = value
        tb = tb.tb_next
    return found


def _crash_finding(policy: Policy, res: Resource | None, exc: Exception, sources: SourceMap) -> Finding:
    what = f"{res.ref} in cluster {res.cluster}" if res is not None else "the fleet"
    return Finding(rule=policy.id, severity=Severity.ERROR,
                   message=f"{policy.id} could not check {what}: {exc.__class__.__name__}: {exc}; the object is "
                           "probably malformed (see its schema findings)",
                   cluster=res.cluster if res is not None else None, obj=res.ref if res is not None else None,
                   fix=policy.fix, location=sources.locate(res, ()) if res is not None else None)


def _run_isolated(policy: Policy, objects: Objects) -> tuple[list[Violation], list[tuple[Resource | None, Exception]]]:
    """One policy's violations and crashes. A policy that raises on an odd object (a port written as a string,
    a list where a mapping belongs) must not end the run: the crash becomes an error finding for that object,
    and the policy runs again without it, so its other findings and every other rule still count."""
    crashes: list[tuple[Resource | None, Exception]] = []
    skipped: list[Resource] = []
    checked = objects
    while True:
        violations: list[Violation] = []
        try:
            for v in policy.run(checked):
                violations.append(v)
        except Exception as exc:  # noqa: BLE001 - any policy bug on hostile input is isolated here
            res = _culprit(exc)
            crashes.append((res, exc))
            if res is None or any(r is res for r in skipped) or len(skipped) >= MAX_CRASHES:
                return violations, crashes
            skipped.append(res)
            checked = objects.without(skipped)
            continue
        return violations, crashes
