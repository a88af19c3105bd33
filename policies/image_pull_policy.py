"""imagePullPolicy consistent with the image reference: a floating tag that is never re-pulled goes stale."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import image_tag, pod_containers


def _problem(image: str, policy: object) -> str | None:
    """Why this pull policy is wrong for this image, or None.

    An omitted policy is fine: the API server defaults it to Always for :latest/untagged images.
    """
    if policy == "Never":
        return "imagePullPolicy Never only runs if someone preloaded the image on every node"
    if policy == "IfNotPresent" and image_tag(image) in ("", "latest"):
        return (f"imagePullPolicy IfNotPresent with the floating image {image} keeps whatever build "
                f"a node pulled first")
    return None


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(objects):
        problem = _problem(str(c.get("image", "")), c.get("imagePullPolicy"))
        if problem:
            yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')}: {problem}", path + ("imagePullPolicy",))


POLICY = Policy(
    id="image-pull-policy",
    severity=Severity.WARNING,
    summary="imagePullPolicy fits the image: no IfNotPresent with :latest/untagged, no Never.",
    rationale="IfNotPresent never re-pulls a floating tag, so nodes keep stale images; Never fails "
              "on any node that does not already have the image.",
    fix="Pin the image (then IfNotPresent is right), or use imagePullPolicy: Always.",
    check=check,
)
