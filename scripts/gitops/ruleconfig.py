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
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import yaml

from . import yamlsrc
from .findings import Severity
from .policy import Parameter, Policy
from .yamlsrc import Fields

CONFIG_FILE = "policies/config.yaml"
_TAGS = {"int": "tag:yaml.org,2002:int", "bool": "tag:yaml.org,2002:bool"}
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Config:
    """The configured registry: the rules that run (severity and values set) and the ones switched off."""

    policies: tuple[Policy, ...]
    disabled: tuple[Policy, ...] = ()


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
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return {}
    fields = Fields(node, file, sorted(declared), what)
    return {name: _value(fields, declared[name], value) for name, value in fields.values.items()}


def _ids(node: yaml.Node | None, top: Fields, known: Sequence[str]) -> set[str]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return set()
    if not isinstance(node, yaml.SequenceNode):
        raise top.fail("'disabled' must be a list of rule ids", node)
    out = set()
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or item.value not in known:
            raise top.fail(f"'disabled' names {getattr(item, 'value', item)!r}, which is not a rule; "
                           f"rules: {', '.join(known)}", item)
        out.add(item.value)
    return out


def load(root: Path, registry: tuple[Policy, ...]) -> Config:
    """The registry as policies/config.yaml configures it; the registry itself when the file is absent or empty."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config(registry)
    nodes = yamlsrc.compose_file(path, root)
    if not nodes or (isinstance(nodes[0], yaml.ScalarNode) and nodes[0].tag == _NULL):
        return Config(registry)
    top = Fields(nodes[0], CONFIG_FILE, ("disabled", "parameters", "rules"), "the policy configuration")
    ids = [p.id for p in registry]
    disabled = _ids(top.get("disabled", required=False), top, ids)
    every = {p.name: p for policy in registry for p in policy.parameters}
    shared = _parameters(top.get("parameters", required=False), CONFIG_FILE, every, "'parameters'")
    per_rule: dict[str, tuple[Severity | None, dict[str, Any]]] = {}
    rules = top.get("rules", required=False)
    if rules is not None and not (isinstance(rules, yaml.ScalarNode) and rules.tag == _NULL):
        by_id = Fields(rules, CONFIG_FILE, ids, "'rules'")
        policies = {p.id: p for p in registry}
        for rule_id, node in by_id.values.items():
            entry = Fields(node, CONFIG_FILE, ("severity", "parameters"), f"rules.{rule_id}")
            severity = entry.string("severity", required=False, choices=[s.value for s in Severity])
            values = _parameters(entry.get("parameters", required=False), CONFIG_FILE,
                                 {p.name: p for p in policies[rule_id].parameters}, f"rules.{rule_id}.parameters")
            per_rule[rule_id] = (Severity(severity) if severity else None, values)
    configured = []
    for policy in registry:
        severity, values = per_rule.get(policy.id, (None, {}))
        declared = {p.name for p in policy.parameters}
        merged = {**{k: v for k, v in shared.items() if k in declared}, **values}
        configured.append(replace(policy, severity=severity or policy.severity, values=tuple(sorted(merged.items()))))
    return Config(tuple(p for p in configured if p.id not in disabled),
                  tuple(p for p in configured if p.id in disabled))
