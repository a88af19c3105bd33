"""Loading YAML that people edit: every mapping keeps its line numbers, duplicate keys are errors.

Rendered output is parsed elsewhere with the fast C loader; this module is for source files,
where an error or a finding must point at a line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Sequence, overload

import yaml

from gitops.infra import fsio, settings
from gitops.model.errors import InputError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # SafeLoader: PyYAML built without libyaml


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _position(mark: Any) -> tuple[int | None, int | None]:
    """(line, column), 1-based, of a parser mark (None, None without one)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def max_file_bytes() -> int:
    """Largest file the build may read (GITOPS_MAX_FILE_BYTES); Kubernetes stores at most ~1.5 MB per object."""
    return settings.current().max_file_bytes


def max_yaml_nodes() -> int:
    """Most YAML nodes one file may expand to, aliases counted in full (GITOPS_MAX_YAML_NODES)."""
    return settings.current().max_yaml_nodes


def max_yaml_depth() -> int:
    """Deepest nesting of collections one file may have (GITOPS_MAX_YAML_DEPTH): libyaml's composer recurses
    on the C stack, and a file of nested brackets crashes the interpreter."""
    return settings.current().max_yaml_depth


def _may_exceed(text: str, depth: int) -> bool:
    """Whether the text can nest `depth` deep: flow nesting needs brackets, block nesting indentation."""
    if text.count("[") + text.count("{") >= depth // 2:
        return True
    return re.search(rf"^[ \t-]{{{depth // 2}}}", text, re.M) is not None


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def read_checked(path: Path, shown: str) -> str:
    """The file's text, within the size limit and valid UTF-8; InputError with the line otherwise.
    A regular file only: a FIFO or device would block or never end."""
    limit = max_file_bytes()
    data = fsio.read_bounded(path, shown, limit, "GITOPS_MAX_FILE_BYTES",
                             "; split it or keep large data out of the repository")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise InputError(f"not valid UTF-8: byte 0x{data[exc.start]:02x}; save the file as UTF-8",
                         shown, _line_of(data, exc.start), column) from None


def _yaml_error(exc: yaml.YAMLError, text: str, shown: str) -> InputError:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character or bad encoding: a byte offset
        return InputError(f"malformed YAML: {exc.reason} (character {exc.character!r})", shown,
                          _line_of(text.encode("utf-8", "surrogatepass"), exc.position))
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    return InputError(f"malformed YAML: {problem}", shown, mark.line + 1 if mark else None,
                      mark.column + 1 if mark else None)


def check_expansion(text: str, shown: str) -> None:
    """Refuse a file whose aliases expand to more than max_yaml_nodes() nodes (a "billion laughs" bomb), or
    that nests deeper than max_yaml_depth().

    A cheap scan of the parser's events: each anchored node's size is counted once, and an alias adds
    that size, so the expanded size is known without expanding anything. Skipped when the text has no
    '&' (no anchor, so no alias can expand) and too few brackets and too little indentation to nest deep.
    """
    max_depth = max_yaml_depth()
    if "&" not in text and not _may_exceed(text, max_depth):
        return
    limit = max_yaml_nodes()
    sizes: dict[str, int] = {}
    stack: list[list] = []  # [anchor, size] of each open collection
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Base):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append([event.anchor, 1])
                total += 1
                if len(stack) > max_depth:
                    raise InputError(f"YAML nested more than {max_depth} levels deep (GITOPS_MAX_YAML_DEPTH)",
                                     shown, *_position(event.start_mark))
                continue
            if isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    sizes[event.anchor] = 1
                total += 1
            elif isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor or "", 1)
                total += size
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = stack.pop()
                if anchor:
                    sizes[anchor] = size
            else:
                continue
            if stack:
                stack[-1][1] += size
            if total > limit:
                raise InputError(f"YAML aliases expand to more than {limit:,} nodes (GITOPS_MAX_YAML_NODES); "
                                 "an alias bomb, or anchors used far more than a manifest needs",
                                 shown, *_position(event.start_mark))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, shown) from None


def _check_duplicates(node: yaml.Node, shown: str, seen_nodes: set[int] | None = None) -> None:
    """Duplicate keys, each node visited once: an alias shares its node, so a bomb is walked in linear time."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    todo = [node]
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
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
                todo.append(value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(reversed(node.value))


def compose_file(path: Path, root: Path | None = None) -> list[yaml.Node]:
    """Parse every document of a file into nodes (which carry line marks), within the size and
    alias-expansion limits."""
    shown = _display(path, root)
    return compose_text(read_checked(path, shown), shown)


def compose_text(text: str, shown: str) -> list[yaml.Node]:
    """compose_file for text already read (a file of another git revision, say), `shown` as its name."""
    check_expansion(text, shown)
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=_Base) if n is not None]
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, shown) from None
    seen: set[int] = set()
    for node in nodes:
        _check_duplicates(node, shown, seen)
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

    @overload
    def get(self, key: str, required: Literal[True] = True, hint: str = "") -> yaml.Node: ...

    @overload
    def get(self, key: str, required: bool, hint: str = "") -> yaml.Node | None: ...

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
