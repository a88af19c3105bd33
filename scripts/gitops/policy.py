"""What a policy is, and the fleet it reads.

A policy is a small named unit (kube-linter style): an id, a one-line summary, a rationale,
a fix hint and a check function. Checks see every cluster of the fleet at once, so a
cross-cluster rule is as small as a per-cluster one. They return Violations; the engine
turns those into Findings with a source location.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .findings import Severity
from .inventory import Cluster, Inventory
from .manifests import Resource

PathElem = str | int
T = TypeVar("T")


@dataclass(frozen=True)
class Also:
    """Another field involved in a violation, reported as a related location (both ends of a call)."""

    resource: Resource
    path: tuple[PathElem, ...]
    note: str


@dataclass
class Violation:
    resource: Resource | None
    message: str
    # Where in the resource the problem is written, e.g. ("spec", "template", "spec", "containers", 0, "image").
    path: tuple[PathElem, ...] = ()
    cluster: str | None = None  # defaults to the resource's cluster
    severity: Severity | None = None  # defaults to the policy's severity
    related: tuple[Also, ...] = ()


@dataclass(frozen=True)
class Rule:
    """What every reported rule has, whether a policy module or a pipeline stage checks it."""

    id: str
    severity: Severity
    summary: str
    rationale: str
    fix: str


@dataclass(frozen=True)
class Parameter:
    """A setting a policy declares, with its default (kube-linter style); policies/config.yaml may set it.

    `kind` is what the config reader accepts: "int", "bool" or "strings" (a list of strings).
    """

    name: str
    kind: str
    default: Any
    description: str


Settings = dict[str, Any]


@dataclass(frozen=True)
class Policy(Rule):
    """A rule implemented by a policy module. A policy with `parameters` has `check(fleet, settings)`,
    where settings hold each parameter's effective value (`values`, set from policies/config.yaml, else
    the default); one without has `check(fleet)`."""

    check: Callable[..., Iterable[Violation]]
    scope: str = "cluster"  # "cluster" (one cluster at a time) or "clusterset" (across clusters)
    parameters: tuple[Parameter, ...] = ()
    values: tuple[tuple[str, Any], ...] = ()  # configured values (name, value); unset ones take the default

    @property
    def settings(self) -> Settings:
        """Each parameter's effective value."""
        configured = dict(self.values)
        return {p.name: configured.get(p.name, p.default) for p in self.parameters}

    def run(self, fleet: "Fleet") -> Iterable[Violation]:
        return self.check(fleet, self.settings) if self.parameters else self.check(fleet)


@dataclass
class Fleet:
    """Every rendered object of every cluster, indexed once for all policies.

    A fleet is read-only once built: policies and their helpers only read it, which is what lets
    `of_kind` hand out its index lists and `derived` share one computed view between policies.
    """

    inventory: Inventory
    resources: dict[str, list[Resource]]
    _by_kind: dict[tuple[str, str], list[Resource]] = field(default_factory=dict, repr=False)
    _of_kind: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_ns: dict[tuple[str, str], list[Resource]] = field(default_factory=dict, repr=False)
    _by_key: dict[tuple[str, str, str, str], Resource] = field(default_factory=dict, repr=False)
    _derived: dict[Callable[["Fleet"], Any], Any] = field(default_factory=dict, repr=False)
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

    def derived(self, factory: Callable[["Fleet"], T]) -> T:
        """`factory(self)`, computed on first use and then shared: one cache, on the fleet it describes.

        Several policies need the same view of the fleet (every pod spec, every host name a workload
        calls, exports by name); each helper computes its view once per fleet through here instead of
        once per policy, with no module-level state. `factory` is the key, so pass a module-level
        function (a new lambda each call would never hit), and treat the result as read-only.
        """
        if factory not in self._derived:
            self._derived[factory] = factory(self)
        return self._derived[factory]  # type: ignore[no-any-return]

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> Resource | None:
        return self._by_key.get((cluster, kind, namespace, name))

    def cluster(self, name: str) -> Cluster:
        return self.inventory.cluster(name)

    def clusterset_members(self, cluster: str) -> list[Cluster]:
        return self.inventory.members(self.inventory.cluster(cluster).clusterset)


def rules_table(rules: Iterable[Rule], markdown: bool = False, disabled: Iterable[Rule] = ()) -> str:
    """Every rule with id, severity, scope and rationale: `--list-policies` output and the README's table.

    Scope says what a rule looks at: one cluster, a whole clusterset, or (for the schema, staleness
    and waiver rules) a pipeline stage rather than a policy module.
    """
    rows = [(r.id, r.severity.value, r.scope if isinstance(r, Policy) else "pipeline", r.summary, r.rationale,
             _settings_text(r, markdown)) for r in rules]
    rows += [(r.id, "off", r.scope if isinstance(r, Policy) else "pipeline", r.summary, r.rationale,
              _settings_text(r, markdown)) for r in disabled]  # switched off in policies/config.yaml
    if markdown:
        lines = ["| id | severity | scope | summary | rationale | parameters |",
                 "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| `{i}` | {s} | {scope} | {m} | {why} | {p} |" for i, s, scope, m, why, p in rows]
    else:
        width = max(len(r[0]) for r in rows)
        lines = [f"{i:<{width}}  {s:<7}  {scope:<10}  {m}" + (f" [{p}]" if p else "")
                 for i, s, scope, m, _, p in rows]
    return "\n".join(lines) + "\n"


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _settings_text(rule: Rule, markdown: bool) -> str:
    """A policy's parameters with their effective values: `name` = value (what it does)."""
    if not isinstance(rule, Policy):
        return ""
    settings = rule.settings
    if markdown:
        return "<br>".join(f"`{p.name}` = `{value_text(settings[p.name])}`: {p.description}" for p in rule.parameters)
    return ", ".join(f"{p.name}={value_text(settings[p.name])}" for p in rule.parameters)
