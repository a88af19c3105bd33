"""Images pinned by tag or digest: ":latest" or no tag means every node may run a different build."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import image_tag, pod_containers


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(objects):
        image = str(c.get("image", ""))
        tag = image_tag(image)
        if tag == "" or tag == "latest":
            how = "has no tag" if tag == "" else "uses the floating tag :latest"
            yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} image {image} {how}; "
                               f"pin a version tag or a digest", path + ("image",))


POLICY = Policy(
    id="image-pinned",
    severity=Severity.ERROR,
    summary="Container images are pinned by a version tag or a digest (no :latest, no untagged).",
    rationale="A floating tag makes the deployed build depend on when each node pulled it; "
              "a rollback or a diff of the repository no longer says what runs.",
    fix="Set the image to an immutable version tag (e.g. :1.0.0) or a digest (@sha256:...).",
    check=check,
)
