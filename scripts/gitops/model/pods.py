"""Pod-template helpers shared by policies: where each workload kind keeps its pod spec.

Small API (paths are Violation paths, so findings point at the line a person edits):

- `pod_specs(fleet, cluster=None)` gives `(resource, prefix, pod_spec)` for every Deployment,
  StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod; `prefix` is the path of the pod
  spec in the object, e.g. `("spec", "template", "spec")`. The whole-fleet list is found once per
  fleet (`Objects.derived`) and shared by every policy.
- `containers(pod_spec, init=True)` yields `(field, index, container)` with `field`
  "initContainers" or "containers": the container's path is `prefix + (field, index)`.
- `pod_containers(fleet)`: every container of the fleet as `ContainerAt(resource, path, init,
  container)`, flattened once per fleet for the per-container policies.
- `configmap_refs(spec, prefix)`: every ConfigMap a pod spec reads (`ConfigMapRef`), with the path of its name.
- `template_labels(resource, prefix)` is the labels of the pod the spec at `prefix` creates.
- `dig(obj, path)` reads a nested field, None when any step is missing.
- `PodIndex.of(fleet)` indexes `PodTemplate`s once per fleet by namespace and label, for Service
  checks: `.selected(cluster, namespace, selector)`, `.in_namespace(...)`, `.has_label(...)`.
- `selections(fleet)`: every Service that selects pods, with the pod templates it selects
  (`Selection`), found once per fleet for the Service policies.
- `names_in(fleet, cluster, kind, namespace)`: what exists instead of a missing object, for messages.
- `service_selector(service)`: the pod selector of a Service (None for ExternalName or
  selector-less Services); `label_text(labels)` shows labels in messages.
- `image_tag(image)`: the tag of an image reference ("" untagged, None when pinned by digest).
- `port_keys(containers)` / `exposed(containers)`: container ports by number or name (a port is
  exposed when `str(port) in port_keys(...)`; `PodTemplate.ports` holds the port_keys of a
  template's app containers).
- `listing(names)`: a short "a, b, c and 7 more" for messages.
- `scopes(fleet)`: which kinds are cluster-scoped (built-ins, and the locked CRDs' scope), once per fleet.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Iterator, NamedTuple

from gitops.model.kinds import Scopes
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import PathElem

Path = tuple[PathElem, ...]
PodSpecOf = tuple[Resource, Path, dict[str, Any]]  # (owner, path of the pod spec in it, the pod spec)

# Where each pod-creating kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, Path] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


def dig(obj: Any, path: Path) -> Any:
    """The value at `path` (dict keys and list indexes), or None when a step is missing."""
    for elem in path:
        try:
            obj = obj[elem]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def pod_specs(objects: Objects, cluster: str | None = None) -> Iterable[PodSpecOf]:
    """Every pod spec in the fleet (or one cluster), with its owner and its path in the owner."""
    return objects.derived(_fleet_pod_specs) if cluster is None else _find_pod_specs(objects, cluster)


def _fleet_pod_specs(objects: Objects) -> tuple[PodSpecOf, ...]:
    """Found once per fleet: most policies walk every pod spec."""
    return tuple(_find_pod_specs(objects, None))


def _find_pod_specs(objects: Objects, cluster: str | None) -> Iterator[PodSpecOf]:
    for kind, prefix in POD_SPEC_PATHS.items():
        for r in objects.of_kind(kind, cluster):
            spec = dig(r.body, prefix)
            if isinstance(spec, dict):
                yield r, prefix, spec


def containers(pod_spec: dict[str, Any], init: bool = True) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(field, index, container) of the init containers (when `init`) and then the app containers."""
    fields = ("initContainers", "containers") if init else ("containers",)
    for name in fields:
        for i, c in enumerate(pod_spec.get(name) or ()):
            if isinstance(c, dict):
                yield name, i, c


class ContainerAt(NamedTuple):
    """One container of a pod spec: its owner, its path there (`path + ("image",)` is its image)."""

    resource: Resource
    path: Path
    init: bool  # an init container
    container: dict[str, Any]


def pod_containers(objects: Objects) -> tuple[ContainerAt, ...]:
    """Every container in the fleet, each pod spec's init containers first."""
    return objects.derived(_fleet_containers)


def _fleet_containers(objects: Objects) -> tuple[ContainerAt, ...]:
    """Flattened once per fleet: the per-container policies and `calls.usages` need nothing else of the spec."""
    return tuple(ContainerAt(r, prefix + (field, i), field == "initContainers", c)
                 for r, prefix, spec in pod_specs(objects) for field, i, c in containers(spec))


def template_labels(resource: Resource, prefix: Path) -> dict[str, str]:
    """Labels of the pods created from the spec at `prefix` (the template's metadata, or a Pod's own)."""
    labels = dig(resource.body, prefix[:-1] + ("metadata", "labels"))
    return labels if isinstance(labels, dict) else {}


class ConfigMapRef(NamedTuple):
    """A ConfigMap a pod spec reads: `key` None when it reads every key; `path` is where the name is written."""

    name: str
    key: str | None
    optional: bool
    path: Path


def configmap_refs(spec: dict[str, Any], prefix: Path) -> Iterator[ConfigMapRef]:
    """Every ConfigMap the pod spec at `prefix` reads: envFrom, env valueFrom, volumes and projected volumes."""
    def ref_at(ref: Any, key: str | None, path: Path) -> Iterator[ConfigMapRef]:
        if isinstance(ref, dict):
            yield ConfigMapRef(str(ref.get("name", "")), key, bool(ref.get("optional")), path + ("name",))

    for field, i, c in containers(spec):
        cpath = prefix + (field, i)
        for j, src in enumerate(c.get("envFrom") or ()):
            yield from ref_at((src or {}).get("configMapRef"), None, cpath + ("envFrom", j, "configMapRef"))
        for j, env in enumerate(c.get("env") or ()):
            ref = ((env or {}).get("valueFrom") or {}).get("configMapKeyRef")
            key = str(ref.get("key", "")) if isinstance(ref, dict) else None
            yield from ref_at(ref, key, cpath + ("env", j, "valueFrom", "configMapKeyRef"))
    for j, vol in enumerate(spec.get("volumes") or ()):
        vol = vol or {}
        yield from ref_at(vol.get("configMap"), None, prefix + ("volumes", j, "configMap"))
        for k, src in enumerate((vol.get("projected") or {}).get("sources") or ()):
            yield from ref_at((src or {}).get("configMap"), None,
                              prefix + ("volumes", j, "projected", "sources", k, "configMap"))


class PodTemplate(NamedTuple):
    """A pod spec with its owner, its path in the owner and the labels its pods get."""

    resource: Resource
    prefix: Path
    spec: dict[str, Any]
    labels: dict[str, str]
    ports: frozenset[str]  # port_keys of the app containers


class PodIndex:
    """Pod templates indexed once by (cluster, namespace) and by label, so a selector lookup is a dict hit."""

    @classmethod
    def of(cls, objects: Objects) -> PodIndex:
        """The fleet's index, built once and shared by the Service policies."""
        return objects.derived(cls)

    def __init__(self, objects: Objects) -> None:
        self._by_ns: dict[tuple[str, str], list[PodTemplate]] = defaultdict(list)
        self._by_label: dict[tuple[str, str, str, str], list[PodTemplate]] = defaultdict(list)
        for r, prefix, spec in pod_specs(objects):
            cluster, ns, labels = r.cluster, r.namespace, template_labels(r, prefix)
            pod = PodTemplate(r, prefix, spec, labels, port_keys(c for _, _, c in containers(spec, init=False)))
            self._by_ns[(cluster, ns)].append(pod)
            for k, v in labels.items():
                self._by_label[(cluster, ns, k, str(v))].append(pod)

    def in_namespace(self, cluster: str, namespace: str) -> list[PodTemplate]:
        return self._by_ns.get((cluster, namespace), [])

    def has_label(self, cluster: str, namespace: str, key: str, value: str) -> bool:
        return (cluster, namespace, key, str(value)) in self._by_label

    def selected(self, cluster: str, namespace: str, selector: dict[str, str]) -> list[PodTemplate]:
        """Pod templates whose labels carry every entry of a non-empty equality selector."""
        if not selector:
            return []
        lists = [self._by_label.get((cluster, namespace, k, str(v)), []) for k, v in selector.items()]
        if len(lists) == 1:
            return list(lists[0])  # the index already matched the only entry
        return [p for p in min(lists, key=len)
                if all(k in p.labels and str(p.labels[k]) == str(v) for k, v in selector.items())]


class Selection(NamedTuple):
    """A Service with a pod selector, and the pod templates it selects (none: it has no endpoints)."""

    service: Resource
    selector: dict[str, str]
    pods: list[PodTemplate]


def selections(objects: Objects) -> tuple[Selection, ...]:
    """Every Service that selects pods, in fleet order, with what it selects."""
    return objects.derived(_find_selections)


def _find_selections(objects: Objects) -> tuple[Selection, ...]:
    """Found once per fleet: service-selects-pods and service-target-port both need each selection."""
    pods = PodIndex.of(objects)
    found = []
    for svc in objects.of_kind("Service"):
        selector = service_selector(svc)
        if selector is not None:
            found.append(Selection(svc, selector, pods.selected(svc.cluster, svc.namespace, selector)))
    return tuple(found)


def service_selector(service: Resource) -> dict[str, str] | None:
    """The pod selector of a Service, or None when it selects no pods (ExternalName, no selector)."""
    spec = service.body.get("spec") or {}
    selector = spec.get("selector")
    if spec.get("type") == "ExternalName" or not selector or not isinstance(selector, dict):
        return None
    return selector


def label_text(labels: dict[str, str]) -> str:
    """Labels as "app=x, version=v1" for messages."""
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"


def image_tag(image: str) -> str | None:
    """The tag of an image reference: None when pinned by digest, "" when untagged."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]  # a registry host may carry ":port"; the tag is in the last part
    return last.partition(":")[2]


def port_keys(ctrs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Every containerPort number (as text) and port name the containers declare.

    One set serves both forms of an IntOrString port: a port name always has a letter.
    """
    keys: set[str] = set()
    for c in ctrs:
        for p in c.get("ports") or ():
            if isinstance(p, dict):
                for k in ("containerPort", "name"):
                    value = p.get(k)
                    if value is not None:
                        keys.add(str(value))
    return frozenset(keys)


def exposed(ctrs: Iterable[dict[str, Any]]) -> str:
    """What the containers expose, for messages: "8080 (http), 9090" or "no ports"."""
    shown = [f"{p.get('containerPort')} ({p['name']})" if p.get("name") else str(p.get("containerPort"))
             for c in ctrs for p in c.get("ports") or () if isinstance(p, dict)]
    return ", ".join(dict.fromkeys(shown)) or "no ports"


def names_in(objects: Objects, cluster: str, kind: str, namespace: str) -> list[str]:
    """Names of the objects of a kind in one namespace of one cluster: looked up only for a message."""
    return [r.name for r in objects.of_kind(kind, cluster) if r.namespace == namespace]


def listing(names: list[str], limit: int = 5) -> str:
    """Up to `limit` names for a message, then how many more; "none" when empty."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (", ".join(names[:limit]) + more) or "none"


def scopes(objects: Objects) -> Scopes:
    """Which kinds are cluster-scoped (`.cluster_scoped(group, kind)`): what the run looked up, once."""
    return objects.scopes
