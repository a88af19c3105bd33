"""Loading YAML that people edit: every mapping keeps its line numbers, duplicate keys are errors.

Rendered output is parsed elsewhere with the fast C loader; this module is for source files,
where an error or a finding must point at a line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

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


def load_file(path: Path, root: Path | None = None) -> list[Any]:
    return [construct(n) for n in compose_file(path, root)]


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
