"""Every rendered object of every cluster, indexed once: what every policy reads."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from gitops.model.argocd import Verdict
from gitops.model.baseline import Baseline
from gitops.model.inventory import Cluster, Inventory
from gitops.model.kinds import Scopes
from gitops.model.resources import Resource

T = TypeVar("T")


@dataclass
class Objects:
    """Every rendered object of every cluster, indexed once for all policies.

    A fleet is read-only once built: policies and their helpers only read it, which is what lets
    `of_kind` hand out its index lists and `derived` share one computed view between policies.
    """

    inventory: Inventory
    resources: dict[str, list[Resource]]
    # Which kinds are cluster-scoped: the run's one lookup of the locked CRDs (built-ins only when not given).
    scopes: Scopes = field(default_factory=Scopes)
    # What Argo CD's own code says of the ApplicationSet and AppProject the run renders into bootstrap/ (the run's
    # Argo CD stage); None: no cluster syncs with Argo CD, or nothing was asked (a policy then says so).
    argocd: Verdict | None = None
    # The base revision's clusters, for the rules that judge what a change does (None: no base to compare with).
    baseline: Baseline | None = None
    # The committed bootstrap/config-sync/<name>/ objects of each Config Sync cluster: what its operator applies.
    bootstrap: dict[str, list[Resource]] = field(default_factory=dict)
    _by_kind: dict[tuple[str, str], list[Resource]] = field(default_factory=dict, repr=False)
    _of_kind: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_ns: dict[tuple[str, str], list[Resource]] = field(default_factory=dict, repr=False)
    _by_key: dict[tuple[str, str, str, str], Resource] = field(default_factory=dict, repr=False)
    _derived: dict[Callable[[Objects], Any], Any] = field(default_factory=dict, repr=False)
    # (first, repeat) for objects whose cluster, kind, namespace and name an earlier object already has.
    repeats: list[tuple[Resource, Resource]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        by_kind: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        of_kind: dict[str, list[Resource]] = defaultdict(list)
        by_ns: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        for cluster, items in self.resources.items():
            for r in items:
                kind, namespace = r.kind, r.namespace
                by_kind[(cluster, kind)].append(r)
                of_kind[kind].append(r)  # clusters in order, each cluster's objects in order
                by_ns[(cluster, namespace)].append(r)
                first = self._by_key.setdefault((cluster, kind, namespace, r.name), r)
                if first is not r:
                    self.repeats.append((first, r))
        self._by_kind, self._of_kind, self._by_ns = dict(by_kind), dict(of_kind), dict(by_ns)

    @property
    def clusters(self) -> tuple[Cluster, ...]:
        return self.inventory.clusters

    def all(self) -> Iterator[Resource]:
        for items in self.resources.values():
            yield from items

    def of_kind(self, kind: str, cluster: str | None = None) -> list[Resource]:
        """Objects of one kind in one cluster, or in every cluster (in cluster order); do not modify the list."""
        if cluster is not None:
            return self._by_kind.get((cluster, kind), [])
        return self._of_kind.get(kind, [])

    def in_namespace(self, cluster: str, namespace: str) -> list[Resource]:
        """Objects of one namespace ("" for none) of one cluster, in order; do not modify the list."""
        return self._by_ns.get((cluster, namespace), [])

    def derived(self, factory: Callable[[Objects], T]) -> T:
        """`factory(self)`, computed on first use and then shared: one cache, on the fleet it describes.

        Several policies need the same view of the fleet (every pod spec, every host name a workload
        calls, exports by name); each helper computes its view once per fleet through here instead of
        once per policy, with no module-level state. `factory` is the key, so pass a module-level
        function (a new lambda each call would never hit), and treat the result as read-only.
        """
        if factory not in self._derived:
            self._derived[factory] = factory(self)
        return self._derived[factory]  # type: ignore[no-any-return,unused-ignore]

    def without(self, skipped: list[Resource]) -> Objects:
        """The same objects less `skipped` (by identity), with the same scopes, Argo CD verdict, base and
        bootstrap."""
        return Objects(self.inventory, {c: [r for r in items if not any(r is s for s in skipped)]
                                        for c, items in self.resources.items()}, self.scopes, self.argocd,
                       self.baseline, self.bootstrap)

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> Resource | None:
        return self._by_key.get((cluster, kind, namespace, name))

    def cluster(self, name: str) -> Cluster:
        return self.inventory.cluster(name)

    def clusterset_members(self, cluster: str) -> list[Cluster]:
        return self.inventory.members(self.inventory.cluster(cluster).clusterset)
