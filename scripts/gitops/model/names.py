"""Names: the DNS patterns Kubernetes names follow, how an object is named in text, and the names and
namespaces Kubernetes accepts (checked before anything is written: run/stages/names.py reports them).

A name becomes a file name in clusters/ and must be what the API server accepts, so the rules are
the API server's own (DNS-1123 per kind): a name such as `../../x` is a finding with its source
line, never a path. Kinds whose names are path segments (RBAC) may hold ':' but never '/'.
"""
from __future__ import annotations

import re

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitops.model.resources import Resource

# The name patterns of Kubernetes (apimachinery's validation), written once for the whole tooling.
# Letters, digits and '-', neither first nor last: a DNS-1123 label's characters, and an IANA service name's.
LABEL_CHARS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1123 label: namespaces, containers, ports
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # DNS-1035 label: Services (a letter first)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # most objects
# A label's key (an optional DNS-subdomain prefix and '/', then a name of at most 63) and value (at most 63).
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_LABEL_KINDS = {"Namespace"}
_SERVICE_KINDS = {"Service"}
_PATH_SEGMENT_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
MAX_FILE_NAME = 255  # bytes, the usual file-system limit for one path component
CLUSTER_SCOPED_FOLDER = "_cluster"  # where render writes a cluster's cluster-scoped objects
# kustomize's name hash of a generated ConfigMap or Secret: 10 characters of this alphabet (hex with vowel-like
# digits replaced), after a '-'.
GENERATED_HASH = re.compile(r"^(?P<base>.+)-[2456789bcdfghkmt]{10}$")
GENERATED_KINDS = ("ConfigMap", "Secret")


def rendered_file(kind: str, namespace: str, name: str) -> str:
    """An object's file within its cluster's folder, as render writes it: <namespace or _cluster>/<kind>-<name>.yaml."""
    return f"{namespace or CLUSTER_SCOPED_FOLDER}/{kind.lower()}-{name}.yaml"


def object_text(kind: str, namespace: str, name: str) -> str:
    """"Kind ns/name" (or "Kind name" for cluster-scoped objects): how every message and report names an object."""
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _name_problem(kind: str, name: str) -> str | None:
    ok: object
    if kind in _LABEL_KINDS:
        ok, rule = DNS_LABEL.match(name), "a DNS-1123 label (lowercase a-z, 0-9, '-'; at most 63)"
    elif kind in _SERVICE_KINDS:
        ok, rule = DNS_1035_LABEL.match(name), \
            "a DNS-1035 label (lowercase a-z, 0-9, '-', starting with a letter; at most 63)"
    elif kind in _PATH_SEGMENT_KINDS:
        ok = bool(name) and name not in (".", "..") and not any(c in name for c in "/%") and \
            name.isprintable() and len(name) <= 253
        rule = "a path segment (no '/', '%', '.' or '..'; at most 253)"
    else:
        ok, rule = len(name) <= 253 and DNS_SUBDOMAIN.match(name), \
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
            not (isinstance(namespace, str) and DNS_LABEL.match(namespace)):
        out.append((("metadata", "namespace"), f"namespace {str(namespace)[:80]!r} is not a DNS-1123 label "
                                               "(lowercase a-z, 0-9, '-'; at most 63)"))
    return out
