"""Port names are IANA service names in containers and DNS-1123 labels in Services; port numbers are 1-65535."""
from __future__ import annotations

import re
from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.names import DNS_LABEL, LABEL_CHARS
from gitops.model.pods import Path, pod_containers

# IANA service name (RFC 6335 5.1), as the API server's IsValidPortName checks it: a DNS label's characters
# (model.names.LABEL_CHARS), at most 15, a letter, no "--". A Service port's name is a DNS-1123 label.


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid port name, or None."""
    if len(name) > 15:
        return f"is {len(name)} characters (at most 15)"
    if not LABEL_CHARS.match(name):
        return "may hold only lower-case letters, digits and hyphens, and neither start nor end with a hyphen"
    if "--" in name:
        return "has two hyphens in a row"
    if not re.search(r"[a-z]", name):
        return "needs at least one letter"
    return None


def service_name_problem(name: str) -> str | None:
    """Why `name` cannot name a Service port, or None."""
    if len(name) > 63:
        return f"is {len(name)} characters (at most 63)"
    if not DNS_LABEL.fullmatch(name):
        return "is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)"
    return None


def _number_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None  # schema's to report
    return None if 1 <= value <= 65535 else "is outside 1-65535"


def _port_or_name(value: Any) -> str | None:
    """An IntOrString port: a number in range, or a valid name."""
    if isinstance(value, str) and not value.isdigit():
        return name_problem(value)
    return _number_problem(int(value) if isinstance(value, str) else value)


def _container(c: dict[str, Any], path: Path) -> Iterator[tuple[str, Path]]:
    for i, p in enumerate(c.get("ports") or ()):
        if not isinstance(p, dict):
            continue
        at = path + ("ports", i)
        if isinstance(p.get("name"), str) and (why := name_problem(p["name"])):
            yield f"port name {p['name']} {why}", at + ("name",)
        for key in ("containerPort", "hostPort"):
            if (why := _number_problem(p.get(key))):
                yield f"{key} {p[key]} {why}", at + (key,)


def check(objects: Objects) -> Iterator[Violation]:
    for r, path, _, c in pod_containers(objects):
        for problem, at in _container(c, path):
            yield Violation(r, f"{r.cluster} {r.ref} container {c.get('name')} {problem}", at)
    for svc in objects.of_kind("Service"):
        ports = (svc.body.get("spec") or {}).get("ports") or ()
        named: set[str] = set()
        for i, p in enumerate(ports):
            if not isinstance(p, dict):
                continue
            name = p.get("name")
            if isinstance(name, str) and name and (why := service_name_problem(name)):
                yield Violation(svc, f"{svc.cluster} {svc.ref} port name {name!r} {why}", ("spec", "ports", i, "name"))
            elif isinstance(name, str) and name in named:
                yield Violation(svc, f"{svc.cluster} {svc.ref} has two ports named {name}", ("spec", "ports", i, "name"))
            elif not name and len(ports) > 1:
                yield Violation(svc, f"{svc.cluster} {svc.ref} port {i + 1} has no name; a Service with several ports "
                                     "must name each", ("spec", "ports", i))
            if isinstance(name, str):
                named.add(name)
            if (why := _number_problem(p.get("port"))):
                yield Violation(svc, f"{svc.cluster} {svc.ref} port {p['port']} {why}", ("spec", "ports", i, "port"))
            target = p.get("targetPort")
            if target is not None and (why := _port_or_name(target)):
                yield Violation(svc, f"{svc.cluster} {svc.ref} targetPort {target} {why}",
                                ("spec", "ports", i, "targetPort"))


POLICY = Policy(
    id="port-syntax",
    severity=Severity.ERROR,
    summary="Container port names and Service targetPort names are IANA service names (at most 15 characters, "
            "lower-case letters, digits and single inner hyphens, at least one letter); Service port names are "
            "DNS-1123 labels, unique, and required when there are several ports; port numbers are 1-65535.",
    rationale="The API server rejects an invalid, repeated or missing port name or an out-of-range number, so the "
              "whole sync fails; the schemas do not check them.",
    fix="Rename the port (e.g. http, grpc-api, metrics) and use a number from 1 to 65535; a targetPort name must "
        "match a container port's name.",
    check=check,
)
