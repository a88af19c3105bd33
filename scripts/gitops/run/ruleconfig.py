"""policies/config.yaml: severity overrides, disabled rules and parameter values, applied to the registry.

Read with the same strict field reader as the inventory (yamlsrc.Fields): an unknown rule id,
parameter name or severity, or a value of the wrong type, is bad input at its line (exit 2), so a
typo never silently leaves a rule at its default. Shape:

    disabled: [mcs-fleet-size]            # rule ids that do not run
    parameters:                           # a value for every rule that declares the parameter
      addressKeys: ["*_URL", "*_HOST"]
    rules:
      mcs-fleet-size:
        severity: error                   # error | warning | notice
        parameters: {maxClusters: 40}     # this rule only (wins over `parameters` above)
    waivers:
      maxDays: 90                         # a waiver expires at most this many days after today (1-365)

The pipeline's own rules (`rendered-up-to-date`, `schema`, ...) always run at their severity: naming one
under `disabled` or `rules` is bad input that says so. The file must be the repository's own, never a
symbolic link (nor under a linked policies/). Every value read keeps its line (`Config.lines`), so a
rule change against another revision is shown where it is written (rulediff.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from gitops.infra import fsio, yamlsrc
from gitops.model.errors import InputError
from gitops.model.findings import Severity
from gitops.model.rules import Parameter, Policy
from gitops.infra.yamlsrc import Fields

CONFIG_FILE = "policies/config.yaml"
_TAGS = {"int": "tag:yaml.org,2002:int", "bool": "tag:yaml.org,2002:bool"}
_NULL = "tag:yaml.org,2002:null"
WAIVER_DAYS = 90  # the default longest lifetime of a waiver
MAX_WAIVER_DAYS = 365  # and the most waivers.maxDays may say: a waiver is a reviewed, short exception
Lines = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Config:
    """The configured registry: the rules that run (severity and values set) and the ones switched off."""

    policies: tuple[Policy, ...]
    disabled: tuple[Policy, ...] = ()
    waiver_days: int = WAIVER_DAYS
    # Where each setting is written: ("disabled", id), ("severity", id), ("parameter", id, name), ("maxDays",).
    lines: Lines = field(default_factory=dict, compare=False)


def _value(fields: Fields, param: Parameter, node: yaml.Node) -> Any:
    if param.kind == "strings":
        if not isinstance(node, yaml.SequenceNode) or not all(
                isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:str" and n.value for n in node.value):
            raise fields.fail(f"parameter {param.name!r} must be a list of non-empty strings", node)
        return tuple(n.value for n in node.value)
    if not isinstance(node, yaml.ScalarNode) or node.tag != _TAGS[param.kind]:
        raise fields.fail(f"parameter {param.name!r} must be {'an integer' if param.kind == 'int' else 'true or false'}",
                          node)
    value = yamlsrc.construct(node)
    if param.kind == "int" and value < 0:
        raise fields.fail(f"parameter {param.name!r} must not be negative", node)
    return value


def _parameters(node: yaml.Node | None, file: str, declared: dict[str, Parameter], what: str) -> dict[str, Any]:
    if _null(node):
        return {}
    assert node is not None
    fields = Fields(node, file, sorted(declared), what)
    return {name: _value(fields, declared[name], value) for name, value in fields.values.items()}


def _null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _ids(node: yaml.Node | None, top: Fields, known: Sequence[str], fixed: Mapping[str, str],
         lines: Lines) -> set[str]:
    if _null(node):
        return set()
    if not isinstance(node, yaml.SequenceNode):
        raise top.fail("'disabled' must be a list of rule ids", node)
    out = set()
    for item in node.value:
        value = getattr(item, "value", item)
        if isinstance(item, yaml.ScalarNode) and value in fixed:
            raise top.fail(f"'disabled' names {value}, which cannot be switched off: {fixed[value]}", item)
        if not isinstance(item, yaml.ScalarNode) or value not in known:
            raise top.fail(f"'disabled' names {value!r}, which is not a rule; rules: {', '.join(known)}", item)
        out.add(value)
        lines[("disabled", value)] = _line(item)
    return out


def _waiver_days(node: yaml.Node | None, lines: Lines) -> int:
    if _null(node):
        return WAIVER_DAYS
    assert node is not None
    fields = Fields(node, CONFIG_FILE, ("maxDays",), "'waivers'")
    days = fields.get("maxDays", required=False)
    if days is None:
        return WAIVER_DAYS
    if not isinstance(days, yaml.ScalarNode) or days.tag != _TAGS["int"] or \
            not 1 <= yamlsrc.construct(days) <= MAX_WAIVER_DAYS:
        raise fields.fail(f"'maxDays' must be a whole number of days from 1 to {MAX_WAIVER_DAYS}", days)
    lines[("maxDays",)] = _line(days)
    return int(yamlsrc.construct(days))


def load(root: Path, registry: tuple[Policy, ...], fixed: Mapping[str, str] | None = None) -> Config:
    """The registry as policies/config.yaml configures it; the registry itself when the file is absent or empty.

    `fixed`: the ids of rules that always run as they are (the pipeline's own), each with the reason."""
    linked = fsio.linked_part(root, CONFIG_FILE)
    if linked is not None:
        raise InputError(f"{linked} is a symbolic link; the rule configuration must be a file of the repository "
                         "itself", CONFIG_FILE)
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config(registry)
    return _parse(yamlsrc.compose_file(path, root), registry, fixed or {})


def parse(text: str, registry: tuple[Policy, ...]) -> Config:
    """The configuration a policies/config.yaml text (another git revision's) gives the registry."""
    return _parse(yamlsrc.compose_text(text, CONFIG_FILE), registry, {})


def _parse(nodes: list[yaml.Node], registry: tuple[Policy, ...], fixed: Mapping[str, str]) -> Config:
    if not nodes or _null(nodes[0]):
        return Config(registry)
    lines: Lines = {}
    top = Fields(nodes[0], CONFIG_FILE, ("disabled", "parameters", "rules", "waivers"), "the policy configuration")
    ids = [p.id for p in registry]
    disabled = _ids(top.get("disabled", required=False), top, ids, fixed, lines)
    every = {p.name: p for policy in registry for p in policy.parameters}
    shared_node = top.get("parameters", required=False)
    shared = _parameters(shared_node, CONFIG_FILE, every, "'parameters'")
    shared_lines = {k: _line(v) for k, v in Fields(shared_node, CONFIG_FILE, sorted(every), "'parameters'")
                    .values.items()} if shared and shared_node is not None else {}
    per_rule: dict[str, tuple[Severity | None, dict[str, Any]]] = {}
    rules = top.get("rules", required=False)
    if not _null(rules):
        assert rules is not None
        if isinstance(rules, yaml.MappingNode):
            for key, _ in rules.value:
                if isinstance(key, yaml.ScalarNode) and key.value in fixed:
                    raise top.fail(f"'rules' names {key.value}, whose severity cannot be changed: {fixed[key.value]}",
                                   key)
        by_id = Fields(rules, CONFIG_FILE, ids, "'rules'")
        policies = {p.id: p for p in registry}
        for rule_id, node in by_id.values.items():
            entry = Fields(node, CONFIG_FILE, ("severity", "parameters"), f"rules.{rule_id}")
            severity = entry.string("severity", required=False, choices=[s.value for s in Severity])
            if severity:
                lines[("severity", rule_id)] = _line(entry.values["severity"])
            own = entry.get("parameters", required=False)
            values = _parameters(own, CONFIG_FILE, {p.name: p for p in policies[rule_id].parameters},
                                 f"rules.{rule_id}.parameters")
            for name in values:
                assert own is not None
                lines[("parameter", rule_id, name)] = _line(yamlsrc.node_at(own, name) or own)
            per_rule[rule_id] = (Severity(severity) if severity else None, values)
    waiver_days = _waiver_days(top.get("waivers", required=False), lines)
    configured = []
    for policy in registry:
        rule_severity, values = per_rule.get(policy.id, (None, {}))
        declared = {p.name for p in policy.parameters}
        merged = {**{k: v for k, v in shared.items() if k in declared}, **values}
        for name in merged:
            if name not in values:
                lines[("parameter", policy.id, name)] = shared_lines[name]
        configured.append(replace(policy, severity=rule_severity or policy.severity,
                                  values=tuple(sorted(merged.items()))))
    return Config(tuple(p for p in configured if p.id not in disabled),
                  tuple(p for p in configured if p.id in disabled), waiver_days, lines)
