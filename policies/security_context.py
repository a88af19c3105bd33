"""Restricted pod security: non-root, no privilege escalation, read-only root, no capabilities, no host namespaces."""
from __future__ import annotations

from typing import Any, Iterator

from gitops.findings import Severity
from gitops.policy import Fleet, Policy, Violation

from ._k8s import Path, containers, dig, pod_specs

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def _effective(pod_sc: dict[str, Any], sc: dict[str, Any], field: str) -> tuple[Any, bool]:
    """The value of a setting the container may override, and whether the container set it."""
    if sc.get(field) is not None:
        return sc[field], True
    return pod_sc.get(field), False


def _problems(pod_sc: dict[str, Any], c: dict[str, Any], cpath: Path, prefix: Path) -> Iterator[tuple[str, Path]]:
    """(what is wrong, where) for one container; the caller names the container (only when needed)."""
    sc = c.get("securityContext") or {}
    at = cpath + ("securityContext",)
    user, own_user = _effective(pod_sc, sc, "runAsUser")
    if user == 0:
        yield "runs as root (runAsUser 0)", (at if own_user else prefix + ("securityContext",)) + ("runAsUser",)
    elif user is None and _effective(pod_sc, sc, "runAsNonRoot")[0] is not True:
        yield "may run as root: set runAsNonRoot: true or a non-zero runAsUser", at + ("runAsNonRoot",)
    if sc.get("allowPrivilegeEscalation") is not False:
        yield "does not set allowPrivilegeEscalation: false", at + ("allowPrivilegeEscalation",)
    if sc.get("readOnlyRootFilesystem") is not True:
        yield "does not set readOnlyRootFilesystem: true", at + ("readOnlyRootFilesystem",)
    if "ALL" not in (dig(sc, ("capabilities", "drop")) or ()):
        yield ("does not drop ALL capabilities (securityContext.capabilities.drop)",
               at + ("capabilities", "drop"))


def check(fleet: Fleet) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(fleet):
        for host in HOST_NAMESPACES:
            if spec.get(host) is True:
                yield Violation(r, f"{r.cluster} {r.ref} sets {host}: true and shares the node's namespace",
                                prefix + (host,))
        pod_sc = spec.get("securityContext") or {}
        for field, i, c in containers(spec):
            for problem, path in _problems(pod_sc, c, prefix + (field, i), prefix):
                yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} {problem}", path)


POLICY = Policy(
    id="security-context",
    severity=Severity.ERROR,
    summary="Containers run non-root, without privilege escalation, with a read-only root filesystem, "
            "all capabilities dropped and no host namespaces.",
    rationale="These are the Pod Security 'restricted' essentials: a compromised process gets no root, "
              "no new privileges, no writable image and no view of the node.",
    fix="Set runAsNonRoot: true (or a non-zero runAsUser), allowPrivilegeEscalation: false, "
        "readOnlyRootFilesystem: true and capabilities.drop: [ALL]; remove hostNetwork/hostPID/hostIPC.",
    check=check,
)
