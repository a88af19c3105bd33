"""ConfigMap and Secret keys are keys the API server accepts (they become file names in volumes)."""
from __future__ import annotations

import re
from typing import Any, Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Violation

# IsConfigMapKey (k8s.io/apimachinery validation): these characters, at most 253 bytes, and no '.', '..' or
# leading '..' (the key is a file name when the ConfigMap or Secret is mounted).
_KEY = re.compile(r"[-._a-zA-Z0-9]+")
MAX_KEY_BYTES = 253
_FIELDS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}


def key_problem(key: Any) -> str | None:
    """Why `key` cannot be a ConfigMap or Secret key, or None."""
    text = str(key)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"is {len(text.encode('utf-8', 'surrogatepass')):,} bytes (at most {MAX_KEY_BYTES})"
    if not _KEY.fullmatch(text):
        return "may hold only letters, digits, '-', '_' and '.'"
    if text in (".", "..") or text.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    return None


def _shown(key: Any) -> str:
    return repr(str(key)[:80] + ("..." if len(str(key)) > 80 else ""))


def check(objects: Objects) -> Iterator[Violation]:
    for kind, fields in _FIELDS.items():
        for r in objects.of_kind(kind):
            seen: dict[str, str] = {}
            for field in fields:
                values = r.body.get(field)
                if not isinstance(values, dict):
                    continue
                for key in values:
                    if (why := key_problem(key)) is not None:
                        yield Violation(r, f"{r.cluster} {r.ref} {field} key {_shown(key)} {why}", (field, key))
                    elif kind == "ConfigMap" and str(key) in seen:
                        yield Violation(r, f"{r.cluster} {r.ref} key {_shown(key)} is in both {seen[str(key)]} and "
                                           f"{field}", (field, key))
                    seen.setdefault(str(key), field)


POLICY = Policy(
    id="data-keys",
    severity=Severity.ERROR,
    summary="ConfigMap and Secret keys hold only letters, digits, '-', '_' and '.' (at most 253, not '.', '..' or "
            "'..x'), and a ConfigMap key is not in both data and binaryData.",
    rationale="The API server refuses any other key, so the whole sync fails; a key is the file name of the value "
              "when the ConfigMap or Secret is mounted as a volume. The schemas do not check keys.",
    fix="Rename the key (e.g. app.properties, DB_HOST, tls-ca.crt); in a generator, name it explicitly "
        "(`files: [key=path]`).",
    check=check,
)
