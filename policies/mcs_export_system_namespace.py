"""Exporting from default or kube-system shares a namespace every cluster has for unrelated things."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import is_mcs

SYSTEM_NAMESPACES = ("default", "kube-system")


def check(objects: Objects) -> Iterator[Violation]:
    for e in objects.of_kind("ServiceExport"):
        if is_mcs(e) and e.namespace in SYSTEM_NAMESPACES:
            yield Violation(e, f"{e.cluster} ServiceExport {e.namespace}/{e.name} exports from namespace "
                               f"{e.namespace}, which exists in every cluster; by namespace sameness any cluster "
                               f"can export a Service of that name into it", ("metadata", "namespace"))


POLICY = Policy(
    id="mcs-export-system-namespace",
    severity=Severity.WARNING,
    summary="No ServiceExports from the default or kube-system namespace.",
    rationale="Namespace sameness makes default and kube-system one namespace across the clusterset: every "
              "cluster has them, so unrelated workloads can export, import and collide under the same names.",
    fix="Move the Service and its ServiceExport to a dedicated application namespace.",
    check=check,
)
