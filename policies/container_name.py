"""Container names are DNS-1123 labels, unique within their pod."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.names import DNS_LABEL
from gitops.model.pods import containers, pod_specs

MAX_NAME = 63


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a container, or None."""
    if not isinstance(name, str):
        return None  # missing or not a string: the schema reports it
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters (at most {MAX_NAME})"
    if not DNS_LABEL.fullmatch(name):
        return "is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)"
    return None


def _shown(name: str) -> str:
    return repr(name[:80] + ("..." if len(name) > 80 else ""))


def check(objects: Objects) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(objects):
        names: set[str] = set()
        for field, i, c in containers(spec):
            name = c.get("name")
            at = prefix + (field, i, "name")
            if (why := name_problem(name)) is not None:
                yield Violation(r, f"{r.cluster} {r.ref} container name {_shown(str(name))} {why}", at)
            elif isinstance(name, str) and name in names:
                yield Violation(r, f"{r.cluster} {r.ref} has two containers named {name} (init containers "
                                   "included)", at)
            if isinstance(name, str):
                names.add(name)


POLICY = Policy(
    id="container-name",
    severity=Severity.ERROR,
    summary="Container and init container names are DNS-1123 labels (lower-case letters, digits and '-', at "
            "most 63), unique within their pod.",
    rationale="The API server refuses any other name, so the whole sync fails; the schemas only say it is a "
              "string.",
    fix="Rename the container (e.g. app, sidecar, migrate) so that every container of the pod has its own name.",
    check=check,
)
