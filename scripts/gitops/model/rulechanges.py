"""Rule changes: what a change does to the rules themselves, shown above the findings of every report.

Switching a rule off, lowering a severity, changing a parameter, adding a waiver or editing policy
code changes a verdict as surely as fixing a finding does, so reviewers must see it first. This is
the plain data `rulediff.py` makes and every report format (and the diff comment) renders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitops.model import textsafe
from gitops.model.findings import SourceLocation

# What changed; `loosens` on each change says whether it can make a finding go away unseen.
RULE_OFF, RULE_ON = "rule-off", "rule-on"
SEVERITY = "severity"
PARAMETER = "parameter"
WAIVER_ADDED, WAIVER_CHANGED, WAIVER_REMOVED = "waiver-added", "waiver-changed", "waiver-removed"
WAIVER_LIFETIME = "waiver-lifetime"
POLICY_CODE = "policy-code"
TOOLING_CODE = "tooling-code"  # the validator's own code, tools and workflow: CI runs the change's copy
CRD_LOCK = "crd-lock"
SCHEMA_FILE = "schema-file"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class RuleChange:
    kind: str
    message: str
    location: SourceLocation | None  # where the working tree says it; None for what it no longer has
    loosens: bool  # can it hide a finding? (a rule off, a severity lowered, a waiver added or extended, code)

    def __post_init__(self) -> None:  # the message quotes the repository (waiver targets, reasons, rule ids)
        object.__setattr__(self, "message", textsafe.shown(self.message))

    def line(self) -> str:
        """"policies/config.yaml:3:5: rule x switched off" (the path alone, or nothing, without a line)."""
        return f"{self.location}: {self.message}" if self.location else self.message

    def as_dict(self) -> dict[str, Any]:
        loc = self.location
        return {"kind": self.kind, "message": self.message, "loosens": self.loosens,
                "location": None if loc is None else {"path": loc.path, "line": loc.line, "column": loc.column}}


@dataclass(frozen=True)
class RuleChanges:
    """The changes since `base` ("main (0123456789ab)"); without a base, `note` says why none was found."""

    base: str = ""
    note: str = ""
    changes: tuple[RuleChange, ...] = ()

    def heading(self) -> str:
        if not self.base:
            return f"rule changes: not checked: {self.note}"
        if not self.changes:
            return f"rule changes since {self.base}: none"
        loose = sum(c.loosens for c in self.changes)
        count = f"{len(self.changes)} change" + ("" if len(self.changes) == 1 else "s")
        return f"rule changes since {self.base}: {count}" + (f" ({loose} can hide findings)" if loose else "")

    def as_dict(self) -> dict[str, Any]:
        return {"base": self.base or None, "note": self.note or None,
                "changes": [c.as_dict() for c in self.changes]}
