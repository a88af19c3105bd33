"""Restricted pod security: non-root, no privilege escalation, read-only root, no capabilities, no host namespaces."""
from __future__ import annotations

from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Parameter, Policy, Settings, Violation

from gitops.model.pods import Path, containers, dig, pod_specs

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
SECCOMP_CONFINED = ("RuntimeDefault", "Localhost")  # what Pod Security 'restricted' accepts


def _effective(pod_sc: dict[str, Any], sc: dict[str, Any], field: str) -> tuple[Any, bool]:
    """The value of a setting the container may override, and whether the container set it."""
    if sc.get(field) is not None:
        return sc[field], True
    return pod_sc.get(field), False


def _problems(pod_sc: dict[str, Any], c: dict[str, Any], cpath: Path, prefix: Path,
              settings: Settings) -> Iterator[tuple[str, Path]]:
    """(what is wrong, where) for one container; the caller names the container (only when needed)."""
    sc = c.get("securityContext") or {}
    at = cpath + ("securityContext",)
    pod_at = prefix + ("securityContext",)
    user, own_user = _effective(pod_sc, sc, "runAsUser")
    if user == 0:
        yield "runs as root (runAsUser 0)", (at if own_user else pod_at) + ("runAsUser",)
    elif user is None and _effective(pod_sc, sc, "runAsNonRoot")[0] is not True:
        yield "may run as root: set runAsNonRoot: true or a non-zero runAsUser", at + ("runAsNonRoot",)
    group, own_group = _effective(pod_sc, sc, "runAsGroup")
    if group == 0 and settings["forbidRunAsGroupZero"]:
        yield "runs with the root group (runAsGroup 0)", (at if own_group else pod_at) + ("runAsGroup",)
    seccomp, own_seccomp = _effective(pod_sc, sc, "seccompProfile")
    kind = seccomp.get("type") if isinstance(seccomp, dict) else None
    if kind not in SECCOMP_CONFINED:
        where = (at if own_seccomp else pod_at) + ("seccompProfile", "type")
        yield (f"has seccompProfile type {kind}; use RuntimeDefault or Localhost" if kind else
               "sets no seccompProfile (RuntimeDefault or Localhost, in the pod or container securityContext)"), where
    if sc.get("allowPrivilegeEscalation") is not False:
        yield "does not set allowPrivilegeEscalation: false", at + ("allowPrivilegeEscalation",)
    if sc.get("readOnlyRootFilesystem") is not True:
        yield "does not set readOnlyRootFilesystem: true", at + ("readOnlyRootFilesystem",)
    if "ALL" not in (dig(sc, ("capabilities", "drop")) or ()):
        yield ("does not drop ALL capabilities (securityContext.capabilities.drop)",
               at + ("capabilities", "drop"))


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    for r, prefix, spec in pod_specs(objects):
        for host in HOST_NAMESPACES:
            if spec.get(host) is True:
                yield Violation(r, f"{r.cluster} {r.ref} sets {host}: true and shares the node's namespace",
                                prefix + (host,))
        pod_sc = spec.get("securityContext") or {}
        for field, i, c in containers(spec):
            for problem, path in _problems(pod_sc, c, prefix + (field, i), prefix, settings):
                yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} {problem}", path)


POLICY = Policy(
    id="security-context",
    severity=Severity.ERROR,
    summary="Containers run non-root (and, by default, not as group 0), under a RuntimeDefault or Localhost "
            "seccomp profile, without privilege escalation, with a read-only root filesystem, all capabilities "
            "dropped and no host namespaces.",
    rationale="These are the Pod Security 'restricted' essentials: a compromised process gets no root, "
              "no new privileges, no writable image and no view of the node.",
    fix="Set runAsNonRoot: true (or a non-zero runAsUser), a non-zero runAsGroup, seccompProfile.type: "
        "RuntimeDefault, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true and capabilities.drop: "
        "[ALL]; remove hostNetwork/hostPID/hostIPC.",
    check=check,
    parameters=(Parameter("forbidRunAsGroupZero", "bool", True,
                          "flag runAsGroup: 0 (the root group reads root-group files in the image)"),),
)
