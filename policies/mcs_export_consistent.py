"""Services exported under one name from several clusters must agree, or MCS reports a conflict and picks one."""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.mcs import exported_service, exports_by_name, is_headless, service_ports

# Service spec fields every exporting cluster must agree on, with the API server's default when unset.
SPEC_FIELDS: dict[str, Any] = {
    "sessionAffinity": "None",
    "internalTrafficPolicy": "Cluster",
    "trafficDistribution": None,
    "ipFamilies": None,
}
EXPORT_FIELDS = ("exportedLabels", "exportedAnnotations")  # spec fields of multicluster.x-k8s.io/v1beta1
EXPORT_DEFAULTS: dict[str, Any] = dict.fromkeys(EXPORT_FIELDS)  # unset: no default


def _ports(service: Resource) -> list[str]:
    """Ports as comparable text: name, protocol, port and appProtocol, in a stable order."""
    shown = []
    for p in service_ports(service):
        app = f" ({p['appProtocol']})" if p.get("appProtocol") else ""
        shown.append(f"{p.get('name') or '(unnamed)'} {p.get('port')}/{p.get('protocol') or 'TCP'}{app}")
    return sorted(shown)


def _show(value: Any) -> str:
    """A field value for messages: maps as k=v, lists comma-separated, unset as (unset)."""
    if value is None:
        return "(unset)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _spec(r: Resource) -> dict[str, Any]:
    return r.body.get("spec") or {}


def _duplicates(service: Resource) -> Iterator[Violation]:
    """Within one exported Service: a port name or a protocol+port declared twice."""
    ports = service_ports(service)
    if len(ports) < 2:
        return  # the common case, and nothing to compare
    names: Counter[str] = Counter()
    numbers: Counter[tuple[str, Any]] = Counter()
    where = f"{service.cluster} Service {service.namespace}/{service.name}"
    for i, p in enumerate(ports):
        name, key = p.get("name"), (p.get("protocol") or "TCP", p.get("port"))
        if name:
            names[name] += 1
            if names[name] == 2:
                yield Violation(service, f"{where} is exported but declares port name {name} twice",
                                ("spec", "ports", i, "name"))
        numbers[key] += 1
        if numbers[key] == 2:
            yield Violation(service, f"{where} is exported but declares port {key[1]}/{key[0]} twice",
                            ("spec", "ports", i, "port"))


def _differences(first: Resource, other: Resource, label: str) -> Iterator[Violation]:
    """Fields on which `other` (in a later cluster) differs from `first`; the message names both."""
    head = f"{label} is exported from {first.cluster} and {other.cluster} with different"
    if first.kind == "Service":
        if is_headless(first) != is_headless(other):
            state = {True: "headless (clusterIP None)", False: "not headless"}
            yield Violation(other, f"{head} headlessness: {first.cluster} is {state[is_headless(first)]}, "
                                   f"{other.cluster} is {state[is_headless(other)]}", ("spec", "clusterIP"))
        if _ports(first) != _ports(other):
            yield Violation(other, f"{head} ports: {first.cluster} has {', '.join(_ports(first)) or 'none'}, "
                                   f"{other.cluster} has {', '.join(_ports(other)) or 'none'}", ("spec", "ports"))
        fields = SPEC_FIELDS
    else:
        fields = EXPORT_DEFAULTS
    first_spec, other_spec = _spec(first), _spec(other)
    for field, default in fields.items():
        a, b = first_spec.get(field, default), other_spec.get(field, default)
        if a != b:
            yield Violation(other, f"{head} {first.kind} spec.{field}: {first.cluster} has {_show(a)}, "
                                   f"{other.cluster} has {_show(b)}", ("spec", field))


def check(objects: Objects) -> Iterator[Violation]:
    for (_, ns, name), exports in exports_by_name(objects).items():
        pairs = [(e, s) for e in exports if (s := exported_service(objects, e)) is not None]
        for _, service in pairs:
            yield from _duplicates(service)
        for export, service in pairs[1:]:
            first_export, first_service = pairs[0]
            yield from _differences(first_service, service, f"{ns}/{name}")
            yield from _differences(first_export, export, f"{ns}/{name}")


POLICY = Policy(
    id="mcs-export-consistent",
    severity=Severity.ERROR,
    summary="Services exported under one name from several clusters agree on type, ports and traffic settings.",
    rationale="The exported Service is one Service across the clusterset: when clusters disagree on headlessness, "
              "ports, session affinity or traffic policy, the MCS controller marks the export conflicted and "
              "resolves it by the oldest export, so callers see properties that some backends do not have.",
    fix="Make the Service (and its ServiceExport) the same in every exporting cluster, typically one shared base.",
    check=check,
    scope="clusterset",
)
