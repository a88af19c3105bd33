"""Multi-Cluster Services helpers shared by the mcs-* policies: exports, and the host names workloads use.

Small API (paths are Violation paths, so findings point at the line a person edits):

- `MCS_GROUPS`, `is_mcs(resource)`: the API groups of ServiceExport/ServiceImport we recognise.
- `exports_by_name(fleet)`: every ServiceExport indexed by (clusterset, namespace, name), once per
  fleet (read-only); `clusterset_of(fleet)`: each cluster's clusterset.
- `hosts_in(text)`: the host names written in a string (`http://h:port/path`, `h:port`, bare `h`).
- `used_hosts(fleet)`: every service DNS name a workload uses (ConfigMap data, container env values,
  args and command, HTTPRoute backendRef names), as `Usage`s with the field path that holds it;
  found once per fleet (`Fleet.derived`) and shared by the mcs-* policies.
- `clusterset_labels(host)`, `clusterset_service(host)`, `local_service(host)`: split a
  `.svc.clusterset.local` or an in-cluster name; `clusterset_name(ns, svc)` builds the clusterset one.
- `exported_service(fleet, export)`: the Service a ServiceExport exports;
  `clusterset_services(fleet, cluster, ns, name)`: that Service in every cluster of a clusterset.
- `service_ports(service)`, `port_numbers(service)`, `is_headless(service)`: Service facts MCS exports.
- `listing(items)`: "a, b and c" for messages.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterator

from gitops.manifests import Resource
from gitops.policy import Also, Fleet, PathElem, Violation

from ._k8s import pod_containers

Path = tuple[PathElem, ...]

# net.gke.io is GKE's; multicluster.x-k8s.io the upstream MCS API; multicluster.k8s.io the KEP's example.
MCS_GROUPS = ("net.gke.io", "multicluster.x-k8s.io", "multicluster.k8s.io")
CLUSTERSET_SUFFIX = ".svc.clusterset.local"
CLUSTER_SUFFIX = ".svc.cluster.local"
DEFAULT_PORTS = {"http": 80, "https": 443}  # grpc (and no scheme) has no default port

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(
    rf"(?<![\w.-])(?:(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/\s]+@)?)?"
    rf"(?P<host>{_LABEL}(?:\.{_LABEL})+)\.?(?::(?P<port>\d{{1,5}}))?(?:[/?#][^\s\"'<>,;]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HostRef:
    """One host name as written: `text` is the whole URL or host:port, for messages and suggestions."""

    text: str
    host: str  # lower case, without a trailing dot
    scheme: str | None = None
    port: int | None = None

    @property
    def service_port(self) -> int | None:
        """The port the caller connects to: the explicit one, else the scheme's default."""
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme or "")

    def replace_host(self, host: str) -> str:
        """The same URL pointing at another host (for "use ..." suggestions)."""
        start = self.text.lower().find(self.host)
        return self.text[:start] + host + self.text[start + len(self.host):]


@dataclass(frozen=True)
class Usage:
    """A host name a workload uses, where it is written (resource + field path)."""

    resource: Resource
    path: Path
    ref: HostRef

    @property
    def caller(self) -> str:
        r = self.resource
        return f"{r.cluster} {r.kind} {r.namespace}/{r.name}" if r.namespace else f"{r.cluster} {r.kind} {r.name}"

    def violation(self, problem: str, related: tuple[Also, ...] = ()) -> Violation:
        """"<caller> calls <url>, but <problem>", at the field that holds the URL."""
        return Violation(self.resource, f"{self.caller} calls {self.ref.text}, but {problem}", self.path,
                         related=related)


def is_mcs(resource: Resource) -> bool:
    return resource.group in MCS_GROUPS


def clusterset_of(fleet: Fleet) -> dict[str, str]:
    """Each cluster's clusterset, for lookups per object."""
    return {c.name: c.clusterset for c in fleet.clusters}


def exports_by_name(fleet: Fleet) -> dict[tuple[str, str, str], list[Resource]]:
    """ServiceExports by (clusterset, namespace, name), exporting clusters in inventory order (do not modify)."""
    return fleet.derived(_index_exports)


def _index_exports(fleet: Fleet) -> dict[tuple[str, str, str], list[Resource]]:
    index: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
    for cluster in fleet.clusters:
        for r in fleet.of_kind("ServiceExport", cluster.name):
            if is_mcs(r):
                index[(cluster.clusterset, r.namespace, r.name)].append(r)
    return dict(index)


def hosts_in(text: str) -> Iterator[HostRef]:
    """Every dotted host name in `text`, with its scheme and port when written as a URL or host:port."""
    for m in _HOST.finditer(text):
        port = int(m["port"]) if m["port"] else None
        if port is not None and port > 65535:
            continue
        scheme = m["scheme"].lower() if m["scheme"] else None
        yield HostRef(m.group(0), m["host"].lower(), scheme, port)


def _service_refs(value: Any, parsed: dict[str, tuple[HostRef, ...]]) -> tuple[HostRef, ...]:
    """Service DNS names (anything with a `.svc` label) in one string field.

    Clusters repeat the same URLs, so each distinct string is parsed once per fleet (`parsed`).
    """
    if not isinstance(value, str):
        return ()
    refs = parsed.get(value)
    if refs is None:
        found = hosts_in(value) if ".svc" in value.lower() else ()
        refs = parsed[value] = tuple(ref for ref in found if ".svc." in ref.host + ".")
    return refs


def _container_strings(container: dict[str, Any]) -> Iterator[tuple[Path, Any]]:
    for i, env in enumerate(container.get("env") or ()):
        if isinstance(env, dict):
            yield ("env", i, "value"), env.get("value")
    for field in ("args", "command"):
        for i, arg in enumerate(container.get(field) or ()):
            yield (field, i), arg


def _backend_refs(route: Resource) -> Iterator[Usage]:
    """HTTPRoute backendRefs whose name is a service DNS name rather than an object name."""
    for i, rule in enumerate((route.body.get("spec") or {}).get("rules") or ()):
        for j, ref in enumerate((rule or {}).get("backendRefs") or ()):
            name = str((ref or {}).get("name", "")).lower().rstrip(".")
            if ".svc." in name + ".":
                port = ref.get("port")
                text = f"{name}:{port}" if isinstance(port, int) else name
                host = HostRef(text, name, None, port if isinstance(port, int) else None)
                yield Usage(route, ("spec", "rules", i, "backendRefs", j, "name"), host)


def used_hosts(fleet: Fleet) -> tuple[Usage, ...]:
    """Every service DNS name the fleet's workloads use; ConfigMaps count as used (envFrom)."""
    return fleet.derived(_fleet_hosts)


def _fleet_hosts(fleet: Fleet) -> tuple[Usage, ...]:
    """Found once per fleet: four policies read every call a workload makes."""
    return tuple(_find_hosts(fleet))


def _find_hosts(fleet: Fleet) -> Iterator[Usage]:
    parsed: dict[str, tuple[HostRef, ...]] = {}
    for cm in fleet.of_kind("ConfigMap"):
        for key, value in ((cm.body.get("data") or {}).items()):
            for ref in _service_refs(value, parsed):
                yield Usage(cm, ("data", key), ref)
    for r, path, _, container in pod_containers(fleet):
        for sub, value in _container_strings(container):
            for ref in _service_refs(value, parsed):
                yield Usage(r, path + sub, ref)
    for route in fleet.of_kind("HTTPRoute"):
        yield from _backend_refs(route)


def clusterset_labels(host: str) -> list[str] | None:
    """The labels before `.svc.clusterset.local` (["svc", "ns"] in the usual form), or None."""
    if not host.endswith(CLUSTERSET_SUFFIX):
        return None
    return host[: -len(CLUSTERSET_SUFFIX)].split(".")


def clusterset_service(host: str) -> tuple[str, str] | None:
    """(namespace, service) a clusterset.local name resolves through: its last two labels."""
    labels = clusterset_labels(host)
    return (labels[-1], labels[-2]) if labels and len(labels) >= 2 else None


def local_service(host: str) -> tuple[str, str] | None:
    """(namespace, service) of `<svc>.<ns>.svc.cluster.local` or `<svc>.<ns>.svc`; None for anything else."""
    for suffix in (CLUSTER_SUFFIX, ".svc"):
        if host.endswith(suffix):
            labels = host[: -len(suffix)].split(".")
            return (labels[-1], labels[-2]) if len(labels) >= 2 else None
    return None


def clusterset_name(namespace: str, service: str) -> str:
    return f"{service}.{namespace}{CLUSTERSET_SUFFIX}"


def exported_service(fleet: Fleet, export: Resource) -> Resource | None:
    """The Service a ServiceExport exports: same cluster, namespace and name."""
    return fleet.get(export.cluster, "Service", export.namespace, export.name)


def clusterset_services(fleet: Fleet, cluster: str, namespace: str, name: str) -> list[Resource]:
    """The Service of that name in every cluster of `cluster`'s clusterset (itself included), in inventory order."""
    found = (fleet.get(c.name, "Service", namespace, name) for c in fleet.clusterset_members(cluster))
    return [s for s in found if s is not None]


def service_ports(service: Resource) -> list[dict[str, Any]]:
    return [p for p in (service.body.get("spec") or {}).get("ports") or () if isinstance(p, dict)]


def port_numbers(service: Resource) -> set[int]:
    return {p["port"] for p in service_ports(service) if isinstance(p.get("port"), int)}


def is_headless(service: Resource) -> bool:
    return (service.body.get("spec") or {}).get("clusterIP") == "None"


def listing(items: list[str]) -> str:
    """"a", "a and b", "a, b and c": cluster and name lists in messages."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
