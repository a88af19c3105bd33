"""Loading YAML that people edit: every mapping keeps its line numbers, duplicate keys are errors.

Rendered output is parsed elsewhere with the fast C loader; this module is for source files,
where an error or a finding must point at a line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from .errors import InputError

try:
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _check_duplicates(node: yaml.Node, shown: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise InputError(
                        f"duplicate key {key.value!r} (first at line {seen[key.value]})",
                        shown, key.start_mark.line + 1, key.start_mark.column + 1,
                    )
                seen[key.value] = key.start_mark.line + 1
            _check_duplicates(value, shown)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, shown)


def compose_file(path: Path, root: Path | None = None) -> list[yaml.Node]:
    """Parse every document of a file into nodes (which carry line marks)."""
    shown = _display(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", shown) from None
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=_Base) if n is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(
            f"malformed YAML: {exc.problem or exc.context}",
            shown,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    for node in nodes:
        _check_duplicates(node, shown)
    return nodes


def construct(node: yaml.Node) -> Any:
    """Turn a composed node into plain Python data."""
    return yaml.SafeLoader("").construct_document(node)


def node_at(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def key_line(node: yaml.Node, key: str) -> int | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k.start_mark.line + 1
    return None


_STR = "tag:yaml.org,2002:str"


class Fields:
    """A mapping node read field by field, for the files people write (inventory, waivers).

    Unknown keys, missing fields and wrong types are errors at the line of the offending key or
    value, so a typo ("kubernetesVerison", "expire") is never silently ignored.
    """

    def __init__(self, node: yaml.Node, file: str, allowed: Sequence[str], what: str) -> None:
        self.node, self.file, self.what = node, file, what
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping with fields: {', '.join(allowed)}")
        self.values: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value not in allowed:
                raise self.fail(f"unknown field {getattr(key, 'value', key)!r} in {what}; "
                                f"expected: {', '.join(allowed)}", key)
            self.values[key.value] = value

    def fail(self, message: str, node: yaml.Node | None = None) -> InputError:
        mark = (node or self.node).start_mark
        return InputError(message, self.file, mark.line + 1, mark.column + 1)

    def get(self, key: str, required: bool = True, hint: str = "") -> yaml.Node | None:
        node = self.values.get(key)
        if node is None and required:
            raise self.fail(f"{self.what} is missing required field {key!r}{hint}")
        return node

    def string(self, key: str, required: bool = True, default: str = "", pattern: re.Pattern[str] | None = None,
               choices: Sequence[str] = ()) -> str:
        node = self.get(key, required)
        if node is None:
            return default
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR or not node.value.strip():
            unquoted = isinstance(node, yaml.ScalarNode) and node.tag != _STR and node.value
            hint = " (quote values such as \"1.33\")" if unquoted else ""
            raise self.fail(f"{key!r} must be a non-empty string{hint}", node)
        value = node.value.strip()
        if choices and value not in choices:
            raise self.fail(f"{key!r} is {value!r}; expected one of: {', '.join(choices)}", node)
        if pattern and not pattern.match(value):
            raise self.fail(f"{key!r} value {value!r} does not match {pattern.pattern}", node)
        return value

    def items(self, key: str, required: bool = True) -> list[yaml.Node]:
        node = self.get(key, required)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"{key!r} must be a list", node)
        return list(node.value)
