"""Findings: the one data type every stage produces and every output format renders."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable

from gitops.model import textsafe
from gitops.model.names import object_text


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return object_text(self.kind, self.namespace, self.name)


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a person edits the offending field: a path relative to the repository root."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Related:
    """The other end of a cross-cluster problem, e.g. the exported Service a caller's URL misses."""

    location: SourceLocation
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "note", textsafe.shown(self.note))

    def __str__(self) -> str:
        return f"{self.location} ({self.note})"


@dataclass
class Finding:
    rule: str
    severity: Severity
    message: str
    cluster: str | None = None
    obj: ObjectRef | None = None
    field_path: str | None = None
    fix: str = ""
    location: SourceLocation | None = None
    # Set when a waiver in policies/waivers.yaml covers this finding: the waiver's reason.
    waived: str | None = None
    related: tuple[Related, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every text a finding carries may quote the repository: masked, bounded and escaped once, here,
        for every format (textsafe.py)."""
        self.message = textsafe.shown(self.message)
        self.fix = textsafe.shown(self.fix)
        if self.waived is not None:
            self.waived = textsafe.shown(self.waived)
        if self.extra:
            self.extra = {k: textsafe.shown(v) for k, v in self.extra.items()}

    def waive(self, reason: str) -> None:
        """Mark the finding waived by a waiver with this reason (shown as every other text is)."""
        self.waived = textsafe.shown(reason)

    @property
    def counts(self) -> bool:
        """Waived findings are reported but never fail the run."""
        return self.waived is None

    def sort_key(self) -> tuple:
        return (
            self.cluster or "",
            self.location.path if self.location else "~",
            self.location.line if self.location else 0,
            self.rule,
            str(self.obj or ""),
            self.message,
        )

    def where(self) -> str:
        return str(self.location) if self.location else "(no source line)"


def path_text(path: Iterable[object]) -> str:
    """("spec", "ports", 0, "port") -> "spec.ports[0].port": how findings show a field."""
    out = ""
    for elem in path:
        out += f"[{elem}]" if isinstance(elem, int) else (f".{elem}" if out else str(elem))
    return out


# --- the one codec: finding <-> JSON-ready dict (report/json.py's findings, shard partials, diff's JSON) ------

def finding_dict(f: Finding) -> dict[str, Any]:
    """The finding as plain JSON data (the json format's `findings` entries)."""
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "cluster": f.cluster,
        "object": None if f.obj is None else {
            "apiVersion": f.obj.api_version, "kind": f.obj.kind,
            "namespace": f.obj.namespace, "name": f.obj.name,
        },
        "fieldPath": f.field_path,
        "fix": f.fix,
        "location": None if f.location is None else {
            "path": f.location.path, "line": f.location.line, "column": f.location.column,
        },
        "waived": f.waived,
        "related": [{"path": r.location.path, "line": r.location.line, "column": r.location.column,
                     "note": r.note} for r in f.related],
        "extra": dict(sorted(f.extra.items())),
    }


class BadFinding(ValueError):
    """A dict that is not what finding_dict makes; the message names the field."""


def need(cond: bool, what: str) -> None:
    if not cond:
        raise BadFinding(what)


def str_field(v: Any, what: str, optional: bool = False) -> Any:
    need(isinstance(v, str) or (optional and v is None), f"{what} must be a string")
    return v


def int_field(v: Any, what: str) -> int:
    need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{what} must be a non-negative integer")
    return v


def _location(d: Any, what: str) -> SourceLocation:
    need(isinstance(d, dict), f"{what} must be an object")
    return SourceLocation(str_field(d.get("path"), f"{what}.path"), int_field(d.get("line"), f"{what}.line"),
                          int_field(d.get("column", 1), f"{what}.column"))


def finding_from(d: Any, what: str) -> Finding:
    """A finding from the dict `finding_dict` makes (a shard's partial result); BadFinding names what is wrong
    (as `what`.field): the dict comes from an artifact another job uploaded."""
    need(isinstance(d, dict), f"{what} must be an object")
    try:
        severity = Severity(d.get("severity"))
    except ValueError:
        raise BadFinding(f"{what}.severity must be error, warning or notice") from None
    obj = d.get("object")
    ref = None
    if obj is not None:
        need(isinstance(obj, dict), f"{what}.object must be an object")
        ref = ObjectRef(*(str_field(obj.get(k), f"{what}.object.{k}") for k in ("apiVersion", "kind", "namespace", "name")))
    related = d.get("related", [])
    need(isinstance(related, list), f"{what}.related must be a list")
    extra = d.get("extra", {})
    need(isinstance(extra, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()),
          f"{what}.extra must map strings to strings")
    need(d.get("waived") is None, f"{what}.waived must be null (waivers are applied by merge)")
    return Finding(str_field(d.get("rule"), f"{what}.rule"), severity, str_field(d.get("message"), f"{what}.message"),
                   str_field(d.get("cluster"), f"{what}.cluster", optional=True), ref,
                   str_field(d.get("fieldPath"), f"{what}.fieldPath", optional=True), str_field(d.get("fix", ""), f"{what}.fix"),
                   None if d.get("location") is None else _location(d["location"], f"{what}.location"),
                   None,
                   tuple(Related(_location(r, f"{what}.related[{i}]"), str_field(r.get("note"), f"{what}.related[{i}].note"))
                         for i, r in enumerate(related)),
                   dict(extra))


def exit_code(findings: Iterable[Finding]) -> int:
    """The one exit rule of every report: 1 when a finding that counts is an error, else 0 (warnings and notices
    never fail a run, waived findings never count)."""
    from gitops.model.errors import EXIT_FINDINGS, EXIT_OK

    return EXIT_FINDINGS if any(f.counts and f.severity is Severity.ERROR for f in findings) else EXIT_OK
