"""Findings: the one data type every stage produces and every output format renders."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gitops.model import textsafe


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
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


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
