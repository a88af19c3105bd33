"""No Secret values in Git: whoever can read the repository can read them."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation


def check(objects: Objects) -> Iterator[Violation]:
    for r in objects.of_kind("Secret"):
        for field in ("data", "stringData"):
            values = r.body.get(field)
            if isinstance(values, dict) and values:
                yield Violation(r, f"{r.cluster} {r.ref} commits {field} ({', '.join(values)}) to Git in plain text",
                                (field, next(iter(values))))


POLICY = Policy(
    id="no-plain-secret",
    severity=Severity.ERROR,
    summary="No Secret with data or stringData is committed.",
    rationale="base64 is an encoding, not encryption: every clone, fork and CI log of the repository "
              "leaks the values.",
    fix="Keep the value in a secret manager and sync it in (External Secrets, Sealed Secrets, "
        "Secret Manager CSI), and remove the Secret from the repository.",
    check=check,
)
