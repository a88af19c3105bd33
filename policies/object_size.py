"""Objects fit what the API server stores: ConfigMap and Secret data at most 1 MiB, any object about 1.5 MiB."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

from gitops.model.pods import Path

# The API server's limit on a ConfigMap's data plus binaryData, and on a Secret's data (core.MaxSecretSize).
MAX_DATA_BYTES = 1024 * 1024
# etcd refuses a request larger than its --max-request-bytes, 1.5 MiB by default: no object can be stored
# above it, whatever its kind.
MAX_OBJECT_BYTES = 3 * 512 * 1024
# The API server's limit on all of an object's annotations, keys and values together (TotalAnnotationSizeLimitB).
MAX_ANNOTATION_BYTES = 256 * 1024
_DATA_FIELDS = {"ConfigMap": (("data", False), ("binaryData", True)),
                "Secret": (("data", True), ("stringData", False))}


def _size(value: Any, encoded: bool) -> int:
    """Bytes the server stores for one value: base64 fields count decoded (as the server decodes them)."""
    text = str(value) if value is not None else ""
    if encoded:
        try:
            return len(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            return len(text) * 3 // 4  # the schema reports bad base64; this is its size as the server would see it
    return len(text.encode("utf-8", "surrogatepass"))


def _data(body: dict[str, Any], kind: str) -> tuple[int, Path, int]:
    """(total bytes of the data fields, path of the largest value, its bytes)."""
    total, largest_size = 0, -1
    largest: Path = ()
    for field, encoded in _DATA_FIELDS[kind]:
        values = body.get(field)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            size = _size(value, encoded)
            total += size
            if size > largest_size:
                largest, largest_size = (field, key), size
    return total, largest, largest_size


def _annotations(body: dict[str, Any]) -> tuple[int, Path]:
    """(bytes of every annotation key and value, path of the largest one)."""
    meta = body.get("metadata")
    values = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(values, dict):
        return 0, ()
    total, largest_size = 0, -1
    largest: Path = ()
    for key, value in values.items():
        size = _size(key, False) + _size(value, False)
        total += size
        if size > largest_size:
            largest, largest_size = ("metadata", "annotations", key), size
    return total, largest


def _serialised(body: dict[str, Any], text: str | None) -> int:
    """The object's size as compact JSON, computed only when its YAML text could come near the limit."""
    if text is not None and 2 * len(text) < MAX_OBJECT_BYTES:
        return 0
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8", "replace"))


def check(objects: Objects) -> Iterator[Violation]:
    sizes: dict[int, int] = {}  # one body is shared by every cluster that renders the same text
    for items in objects.resources.values():
        for r in items:
            if r.kind in _DATA_FIELDS:
                total, largest, largest_size = _data(r.body, r.kind)
                if total > MAX_DATA_BYTES:
                    fields = " and ".join(f for f, _ in _DATA_FIELDS[r.kind])
                    yield Violation(r, f"{r.cluster} {r.ref} holds {total:,} bytes in {fields}, over the API "
                                       f"server's limit of {MAX_DATA_BYTES:,} (1 MiB); the largest value is "
                                       f"{largest[0]}.{largest[1]} ({largest_size:,} bytes)", largest)
                    continue
            annotations, at = _annotations(r.body)
            if annotations > MAX_ANNOTATION_BYTES:
                yield Violation(r, f"{r.cluster} {r.ref} has {annotations:,} bytes of annotations, over the API "
                                   f"server's limit of {MAX_ANNOTATION_BYTES:,} (256 KiB)", at)
                continue
            if id(r.body) not in sizes:
                sizes[id(r.body)] = _serialised(r.body, r.text)
            if sizes[id(r.body)] > MAX_OBJECT_BYTES:
                yield Violation(r, f"{r.cluster} {r.ref} is {sizes[id(r.body)]:,} bytes as JSON, over the "
                                   f"{MAX_OBJECT_BYTES:,} bytes (1.5 MiB) etcd stores per object", ("kind",))


POLICY = Policy(
    id="object-size",
    severity=Severity.ERROR,
    summary="ConfigMap data and binaryData, and Secret data and stringData, hold at most 1 MiB; an object's "
            "annotations at most 256 KiB; any object serialises to at most 1.5 MiB.",
    rationale="The API server refuses a ConfigMap or Secret over 1 MiB and annotations over 256 KiB, and etcd any "
              "object over 1.5 MiB, so the whole sync fails; neither the schemas nor kustomize check sizes.",
    fix="Keep large data out of the cluster's objects (an image, a volume, object storage), or split it over "
        "several ConfigMaps.",
    check=check,
)
