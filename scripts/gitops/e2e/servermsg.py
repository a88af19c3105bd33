"""Read a kube-apiserver refusal or warning: which field of the object it names.

The server names fields in two notations: validation causes say `spec.ports[1].port`, server-side
apply's merge errors say `.spec.ports` or `.spec.containers[name="app"].image`. Both become a
path into the rendered object (list items by index), which the SourceMap turns into a file:line.
Where the message also quotes the offending value or key (a bad label, a duplicate port), the path
goes one step further, to the entry itself.
"""
from __future__ import annotations

import json
import re
from typing import Any

PathElem = str | int

_TOKEN = re.compile(r"\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[([^\]]*)\]")
_KEYED = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\]]+)')
# Server-side apply: "...: .spec.ports: duplicate entries for key [port=8080,protocol=\"TCP\"]"
_SSA_FIELD = re.compile(r"(?:^|: )(\.[A-Za-z][\w.\[\]=\"',-]*?): ")
_INVALID_VALUE = re.compile(r'Invalid value: "((?:[^"\\]|\\.)*)"')
_DUPLICATE_KEY = re.compile(r"duplicate entries for key \[([^\]]*)\]")
_WARNING = re.compile(r'^\s*(\d{3})\s+\S+\s+"((?:[^"\\]|\\.)*)"')
_MAPS = ("labels", "annotations", "matchLabels", "nodeSelector", "selector", "data")


def _value(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.loads(text)
        except ValueError:
            return text.strip('"')
    try:
        return int(text)
    except ValueError:
        return text


def _matches(item: Any, keys: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k, "TCP" if k == "protocol" else None) == v
                                          for k, v in keys.items())


def _keys(text: str) -> dict[str, Any]:
    return {k: _value(v) for k, v in _KEYED.findall(text)}


def parse_path(text: str, body: Any) -> tuple[PathElem, ...]:
    """`spec.ports[1]` or `.spec.containers[name="app"]` as a path into `body` (keyed items become indexes);
    stops where the object has no such field."""
    out: list[PathElem] = []
    node = body
    for name, index, keyed in _TOKEN.findall(text.strip()):
        if name:
            if not isinstance(node, dict) or name not in node:
                break
            out.append(name)
            node = node[name]
        elif index:
            if not isinstance(node, list) or int(index) >= len(node):
                break
            out.append(int(index))
            node = node[int(index)]
        else:
            want = _keys(keyed)
            found = next((i for i, item in enumerate(node) if _matches(item, want)), None) \
                if isinstance(node, list) and want else None
            if found is None:
                break
            out.append(found)
            node = node[found]
    return tuple(out)


def _at(body: Any, path: tuple[PathElem, ...]) -> Any:
    for elem in path:
        body = body[elem]
    return body


def _refine(path: tuple[PathElem, ...], message: str, body: Any) -> tuple[PathElem, ...]:
    """One step deeper where the message quotes the entry: a bad label's key, the second duplicate."""
    node = _at(body, path)
    duplicate = _DUPLICATE_KEY.search(message)
    if duplicate and isinstance(node, list):
        want = _keys(duplicate.group(1))
        hits = [i for i, item in enumerate(node) if _matches(item, want)]
        if len(hits) > 1:
            return (*path, hits[1])
    invalid = _INVALID_VALUE.search(message)
    if invalid and isinstance(node, dict) and path and path[-1] in _MAPS:
        quoted = invalid.group(1)
        for key, value in node.items():
            if quoted in (key, value):
                return (*path, key)
    return path


def field_path(field: str | None, message: str, body: Any) -> tuple[PathElem, ...]:
    """The path of the field a refusal names: its cause's field, else the one its message starts with."""
    text = field
    if not text:
        found = _SSA_FIELD.search(message)
        text = found.group(1) if found else None
    if not text:
        return ()
    return _refine(parse_path(text, body), message, body)


_IMMUTABLE = ("field is immutable", "may not change once set", "updates to statefulset spec for fields other than",
              "is immutable")


def immutable(message: str) -> bool:
    """Does the server refuse a change to a field it never changes on a live object (selectors, clusterIP,
    a StatefulSet's volumeClaimTemplates)?"""
    return any(marker in message for marker in _IMMUTABLE)


def causes(status: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(field, message) for each cause of a Status; one (None, message) when it lists none."""
    message = str(status.get("message") or status.get("reason") or "refused")
    details = status.get("details") or {}
    out: list[tuple[str | None, str]] = []
    for cause in details.get("causes") or []:
        if isinstance(cause, dict) and cause.get("message"):
            field = cause.get("field") or None
            out.append((field, f"{field}: {cause['message']}" if field else str(cause["message"])))
    return out or [(None, message)]


def warnings(headers: Any) -> list[str]:
    """The texts of the `Warning: 299 - "..."` headers of a response."""
    values: list[str] = []
    if headers is None:
        return values
    getlist = getattr(headers, "getlist", None) or getattr(headers, "get_all", None)
    raw = getlist("Warning") if getlist else [headers.get("Warning")] if headers.get("Warning") else []
    for value in raw or []:
        for part in re.split(r',\s*(?=\d{3}\s)', value):
            found = _WARNING.match(part)
            if found:
                values.append(found.group(2).replace('\\"', '"'))
    return values
