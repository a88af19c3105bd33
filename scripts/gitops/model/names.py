"""Object names and namespaces that Kubernetes accepts, checked before anything is written.

A name becomes a file name in clusters/ and must be what the API server accepts, so the rules are
the API server's own (DNS-1123 per kind): a name such as `../../x` is a finding with its source
line, never a path. Kinds whose names are path segments (RBAC) may hold ':' but never '/'.
"""
from __future__ import annotations

import re

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.rules import Rule

NAME = Rule("object-name", Severity.ERROR,
            "Object names and namespaces are valid Kubernetes names (DNS-1123, per kind) that fit a file name.",
            "The API server rejects an invalid name, so the sync fails; and a name is part of the file path in "
            "clusters/, so '../x' or a 300-character name must never reach the file system.",
            "Use lowercase letters, digits and '-' (and '.' where the kind allows it): at most 63 characters for "
            "namespaces and Services, 253 for most other kinds.")

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 label (Services)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_LABEL_KINDS = {"Namespace"}
_SERVICE_KINDS = {"Service"}
_PATH_SEGMENT_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
MAX_FILE_NAME = 255  # bytes, the usual file-system limit for one path component


def _name_problem(kind: str, name: str) -> str | None:
    if kind in _LABEL_KINDS:
        ok, rule = len(name) <= 63 and _LABEL.match(name), "a DNS-1123 label (lowercase a-z, 0-9, '-'; at most 63)"
    elif kind in _SERVICE_KINDS:
        ok, rule = len(name) <= 63 and _LABEL_1035.match(name), \
            "a DNS-1035 label (lowercase a-z, 0-9, '-', starting with a letter; at most 63)"
    elif kind in _PATH_SEGMENT_KINDS:
        ok = bool(name) and name not in (".", "..") and not any(c in name for c in "/%") and \
            name.isprintable() and len(name) <= 253
        rule = "a path segment (no '/', '%', '.' or '..'; at most 253)"
    else:
        ok, rule = len(name) <= 253 and _SUBDOMAIN.match(name), \
            "a DNS-1123 subdomain (lowercase a-z, 0-9, '-', '.'; at most 253)"
    return None if ok else f"name {name[:80]!r}{'...' if len(name) > 80 else ''} is not {rule}"


def problems(res: Resource) -> list[tuple[tuple[str, ...], str]]:
    """(field path, message) for each invalid kind, name or namespace of `res`; empty when it can be written."""
    out: list[tuple[tuple[str, ...], str]] = []
    meta = res.body.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if not isinstance(res.body.get("kind"), str) or not _KIND.match(res.kind):
        out.append((("kind",), f"kind {str(res.body.get('kind'))[:80]!r} is not a Kubernetes kind name"))
    if not isinstance(name, str):
        out.append((("metadata", "name"), "metadata.name must be a string"))
    elif (problem := _name_problem(res.kind, name)) is not None:
        out.append((("metadata", "name"), problem))
    elif len(f"{res.kind.lower()}-{name}.yaml".encode()) > MAX_FILE_NAME:
        out.append((("metadata", "name"), f"{res.kind.lower()}-{name}.yaml is longer than a file name may be "
                                          f"({MAX_FILE_NAME} bytes); shorten the name"))
    if namespace is not None and namespace != "" and \
            not (isinstance(namespace, str) and len(namespace) <= 63 and _LABEL.match(namespace)):
        out.append((("metadata", "namespace"), f"namespace {str(namespace)[:80]!r} is not a DNS-1123 label "
                                               "(lowercase a-z, 0-9, '-'; at most 63)"))
    return out
