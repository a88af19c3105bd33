"""What a policy is (a rule with a check), and what a check reports (Violation, Also).

A policy is a small named unit (kube-linter style): an id, a one-line summary, a rationale,
a fix hint and a check function. Checks see every cluster of the fleet at once, so a
cross-cluster rule is as small as a per-cluster one. They return Violations; the engine
turns those into Findings with a source location.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from gitops.model.findings import Severity, SourceLocation
from gitops.model.resources import Resource

if TYPE_CHECKING:
    from gitops.model.objects import Objects

PathElem = str | int


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
    # Where to report it when no object is at fault (e.g. an inventory line); else the object's, or the cluster's.
    location: SourceLocation | None = None


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

    def run(self, objects: Objects) -> Iterable[Violation]:
        return self.check(objects, self.settings) if self.parameters else self.check(objects)


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
