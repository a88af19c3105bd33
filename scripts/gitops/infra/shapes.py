"""Reading a nested block of a file people write (the inventory's Argo CD and Config Sync settings) against its
shape: every key known, every value of its type, each error at its line; the value comes back as plain data.

A shape mirrors a field of the sync engine's object (tests/unit/infra/test_shapes.py holds every shape the
inventory reads against the locked CRD's schema of that field, so a shape cannot accept what the CRD refuses
to name). Patterns and bounds are the few the CRDs state or the engines document.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from gitops.infra import yamlsrc
from gitops.model.errors import InputError

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class Str:
    pattern: re.Pattern[str] | None = None
    choices: tuple[str, ...] = ()
    empty: bool = False  # "" is a value (an API group: the core group)
    hint: str = ""


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class ListOf:
    item: Shape
    min_items: int = 0


@dataclass(frozen=True)
class MapOf:
    """A mapping of strings to one shape (labels, annotations)."""

    key: Str
    value: Shape


@dataclass(frozen=True)
class Obj:
    """A mapping with known keys; `required` must be present."""

    fields: dict[str, Shape]
    required: tuple[str, ...] = ()
    what: str = "a mapping"


@dataclass(frozen=True)
class OneOf:
    """The first shape that reads the value (int-or-string fields)."""

    shapes: tuple[Shape, ...] = field(default_factory=tuple)
    hint: str = ""


Shape = Union[Str, Int, Bool, ListOf, MapOf, Obj, OneOf]


def _fail(message: str, node: yaml.Node, file: str) -> InputError:
    mark = node.start_mark
    return InputError(message, file, mark.line + 1, mark.column + 1)


def read(node: yaml.Node, shape: Shape, file: str, what: str) -> Any:
    """The value of `node` read as `shape` (plain data); InputError at the offending line otherwise."""
    if isinstance(shape, Obj):
        fields = yamlsrc.Fields(node, file, tuple(shape.fields), what)
        for key in shape.required:
            fields.get(key)
        return {key: read(value, shape.fields[key], file, f"{what}.{key}") for key, value in fields.values.items()}
    if isinstance(shape, ListOf):
        if not isinstance(node, yaml.SequenceNode):
            raise _fail(f"{what} must be a list", node, file)
        if len(node.value) < shape.min_items:
            raise _fail(f"{what} needs at least {shape.min_items} item(s)", node, file)
        return [read(item, shape.item, file, f"{what}[{i}]") for i, item in enumerate(node.value)]
    if isinstance(shape, MapOf):
        if not isinstance(node, yaml.MappingNode):
            raise _fail(f"{what} must be a mapping", node, file)
        out = {}
        for k, v in node.value:
            key = read(k, shape.key, file, f"a key of {what}")
            out[key] = read(v, shape.value, file, f"{what}.{key}")
        return out
    if isinstance(shape, OneOf):
        for option in shape.shapes:
            try:
                return read(node, option, file, what)
            except InputError:
                continue
        raise _fail(f"{what} must be {shape.hint}", node, file)
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(f"{what} must be a single value", node, file)
    if isinstance(shape, Bool):
        if node.tag != _BOOL:
            raise _fail(f"{what} must be true or false", node, file)
        return yamlsrc.construct(node)
    if isinstance(shape, Int):
        if node.tag != _INT:
            raise _fail(f"{what} must be a whole number", node, file)
        value = yamlsrc.construct(node)
        if (shape.minimum is not None and value < shape.minimum) or (shape.maximum is not None and value > shape.maximum):
            bounds = f"from {shape.minimum}" + (f" to {shape.maximum}" if shape.maximum is not None else " up")
            raise _fail(f"{what} must be a whole number {bounds}", node, file)
        return value
    if node.tag != _STR or (not shape.empty and not node.value.strip()):
        hint = " (quote it)" if node.tag != _STR and node.value else ""
        raise _fail(f"{what} must be a {'' if shape.empty else 'non-empty '}string{hint}", node, file)
    value = node.value if shape.empty else node.value.strip()
    if shape.choices and value not in shape.choices:
        raise _fail(f"{what} is {value!r}; expected one of: {', '.join(shape.choices)}", node, file)
    if shape.pattern is not None and not shape.pattern.match(value):
        raise _fail(f"{what} {value!r} is not {shape.hint or 'of the form ' + shape.pattern.pattern}", node, file)
    return value
