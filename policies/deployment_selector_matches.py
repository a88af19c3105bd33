"""A controller's selector matches its own pod template, or the API server rejects it."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import POD_SPEC_PATHS, label_text, template_labels

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def check(objects: Objects) -> Iterator[Violation]:
    for kind in KINDS:
        for r in objects.of_kind(kind):
            match = ((r.body.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            labels = template_labels(r, POD_SPEC_PATHS[kind])
            for key, value in match.items():
                if labels.get(key) != value:
                    yield Violation(r, f"{r.cluster} {r.ref} selector {key}={value} does not match its pod "
                                       f"template labels ({label_text(labels)})",
                                    ("spec", "selector", "matchLabels", key))


POLICY = Policy(
    id="deployment-selector-matches",
    severity=Severity.ERROR,
    summary="Deployment/StatefulSet/DaemonSet/ReplicaSet spec.selector.matchLabels is a subset of "
            "the pod template labels.",
    rationale="The API server rejects a selector that does not match the template, so the sync fails; "
              "and the selector is immutable once applied.",
    fix="Make spec.selector.matchLabels and spec.template.metadata.labels agree.",
    check=check,
)
