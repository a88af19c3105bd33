"""Ingress and HTTPRoute backends name an existing Service and one of its ports."""
from __future__ import annotations

from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Also, Policy, Violation

from gitops.model.pods import Path, listing, names_in

# One backend reference: (route, path of the reference, namespace, service name, port, what the port is).
Backend = tuple[Resource, Path, str, str, Any, str]


def _ingress_backends(ing: Resource) -> Iterator[Backend]:
    spec = ing.body.get("spec") or {}
    refs: list[tuple[Path, Any]] = [(("spec", "defaultBackend"), spec.get("defaultBackend"))]
    for i, rule in enumerate(spec.get("rules") or ()):
        for j, p in enumerate(((rule or {}).get("http") or {}).get("paths") or ()):
            refs.append((("spec", "rules", i, "http", "paths", j, "backend"), (p or {}).get("backend")))
    for path, backend in refs:
        service = (backend or {}).get("service")
        if not service:
            continue  # none, or a `resource` backend
        port = service.get("port") or {}
        which = "number" if "number" in port else "name"
        yield (ing, path + ("service",), ing.namespace, str(service.get("name", "")), port.get(which),
               which)


def _httproute_backends(route: Resource) -> Iterator[Backend]:
    for i, rule in enumerate((route.body.get("spec") or {}).get("rules") or ()):
        for j, ref in enumerate((rule or {}).get("backendRefs") or ()):
            if ref.get("kind", "Service") != "Service" or ref.get("group", "") != "":
                continue
            yield (route, ("spec", "rules", i, "backendRefs", j), ref.get("namespace") or route.namespace,
                   str(ref.get("name", "")), ref.get("port"), "number")


def _backends(objects: Objects) -> Iterator[Backend]:
    for ing in objects.of_kind("Ingress"):
        if ing.group == "networking.k8s.io":
            yield from _ingress_backends(ing)
    for route in objects.of_kind("HTTPRoute"):
        if route.group == "gateway.networking.k8s.io":
            yield from _httproute_backends(route)


def _ports(svc: Resource) -> list[dict[str, Any]]:
    return [p for p in (svc.body.get("spec") or {}).get("ports") or () if isinstance(p, dict)]


def _has_port(svc: Resource, port: Any, which: str) -> bool:
    """Service port `port`, by number (spec.ports[].port) or by name."""
    field = "port" if which == "number" else "name"
    return any(str(p.get(field)) == str(port) for p in _ports(svc))


def _port_text(svc: Resource) -> str:
    shown = [f"{p.get('port')} ({p['name']})" if p.get("name") else str(p.get("port")) for p in _ports(svc)]
    return ", ".join(shown) or "no ports"


def _who(route: Resource, ns: str, name: str, port: Any) -> str:
    return f"{route.cluster} {route.ref} routes to Service {ns}/{name} port {port}"


def check(objects: Objects) -> Iterator[Violation]:
    for route, path, ns, name, port, which in _backends(objects):
        svc = objects.get(route.cluster, "Service", ns, name)
        if svc is None:
            there = listing(names_in(objects, route.cluster, "Service", ns))
            yield Violation(route, f"{_who(route, ns, name, port)}, but {route.cluster} has no Service {ns}/{name} "
                                   f"(Services in {ns}: {there})", path + ("name",))
        elif port is not None and not _has_port(svc, port, which):
            at = path + (("port", which) if route.kind == "Ingress" else ("port",))
            # The other end: each port the Service has, so a changed Service port is seen as the cause.
            field = "port" if which == "number" else "name"
            ports = (svc.body.get("spec") or {}).get("ports") or ()
            others = tuple(Also(svc, ("spec", "ports", i, field), f"{svc.cluster} Service {ns}/{name} {field} "
                                                                 f"{p.get(field)}")
                           for i, p in enumerate(ports) if isinstance(p, dict) and field in p)
            yield Violation(route, f"{_who(route, ns, name, port)}, but Service {ns}/{name} has ports "
                                   f"{_port_text(svc)}", at, related=others)


POLICY = Policy(
    id="route-backend-exists",
    severity=Severity.ERROR,
    summary="Ingress backends and HTTPRoute backendRefs name an existing Service in the same cluster "
            "and a port it has.",
    rationale="A backend that does not exist makes the load balancer answer 404/503 for the route "
              "while the sync reports success.",
    fix="Fix the backend's Service name or port, or add the Service to this cluster's overlay.",
    check=check,
)
