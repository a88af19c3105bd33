"""Restricted pod security: non-root, no privilege escalation, read-only root, no capabilities, no host namespaces."""
from __future__ import annotations

from typing import Any, Iterator

from gitops.findings import Severity
from gitops.manifests import Resource
from gitops.policy import Fleet, Policy, Violation

from ._k8s import Path, containers, dig, pod_specs

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def _run_as(pod_sc: dict[str, Any], sc: dict[str, Any], field: str) -> tuple[Any, str]:
    """The effective value of a pod-or-container setting and which level set it ("" when unset)."""
    if sc.get(field) is not None:
        return sc[field], "container"
    if pod_sc.get(field) is not None:
        return pod_sc[field], "pod"
    return None, ""


def _non_root(r: Resource, prefix: Path, pod_sc: dict[str, Any], c: dict[str, Any],
              cpath: Path) -> Iterator[Violation]:
    sc = c.get("securityContext") or {}
    user, user_level = _run_as(pod_sc, sc, "runAsUser")
    non_root, _ = _run_as(pod_sc, sc, "runAsNonRoot")
    who = f"{r.cluster} {r.ref} container {c.get('name')}"
    if user == 0:
        at = cpath + ("securityContext", "runAsUser") if user_level == "container" \
            else prefix + ("securityContext", "runAsUser")
        yield Violation(r, f"{who} runs as root (runAsUser 0)", at)
    elif non_root is not True and user is None:
        yield Violation(r, f"{who} may run as root: set runAsNonRoot: true or a non-zero runAsUser",
                        cpath + ("securityContext", "runAsNonRoot"))


def _container(r: Resource, prefix: Path, pod_sc: dict[str, Any], c: dict[str, Any],
               cpath: Path) -> Iterator[Violation]:
    yield from _non_root(r, prefix, pod_sc, c, cpath)
    sc = c.get("securityContext") or {}
    who = f"{r.cluster} {r.ref} container {c.get('name')}"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield Violation(r, f"{who} does not set allowPrivilegeEscalation: false",
                        cpath + ("securityContext", "allowPrivilegeEscalation"))
    if sc.get("readOnlyRootFilesystem") is not True:
        yield Violation(r, f"{who} does not set readOnlyRootFilesystem: true",
                        cpath + ("securityContext", "readOnlyRootFilesystem"))
    if "ALL" not in (dig(sc, ("capabilities", "drop")) or ()):
        yield Violation(r, f"{who} does not drop ALL capabilities (securityContext.capabilities.drop)",
                        cpath + ("securityContext", "capabilities", "drop"))


def check(fleet: Fleet) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(fleet):
        for host in HOST_NAMESPACES:
            if spec.get(host) is True:
                yield Violation(r, f"{r.cluster} {r.ref} sets {host}: true and shares the node's namespace",
                                prefix + (host,))
        pod_sc = spec.get("securityContext") or {}
        for field, i, c in containers(spec):
            yield from _container(r, prefix, pod_sc, c, prefix + (field, i))


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
