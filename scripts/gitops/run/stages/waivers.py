"""Waivers (policies/waivers.yaml): findings a person accepted, each with a reason and an expiry date.

A waiver covers the findings of one rule whose cluster, object and source path match its
target's globs (fnmatch: `*` also crosses `/`). Objects are matched as "Kind/namespace/name",
or "Kind/name" when cluster-scoped. A waiver holds through its `expires` day; after that it
waives nothing and is an error itself, so an accepted problem cannot be forgotten for good.
A waiver that matches nothing is a warning: it is stale, or its target has a typo.

Loading also holds a waiver to its limits (bad input at its line, exit 2): it may not name a rule that
is never waived (`rendered-up-to-date`: the sync engines apply the committed folders, so they must be
what the sources render), nor expire more than the configured number of days after today
(`waivers.maxDays` in policies/config.yaml, 90 by default); and the file must be the repository's own,
never a symbolic link (nor under a linked policies/).
"""
from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import yaml

from gitops.infra import fsio, yamlsrc
from gitops.infra.yamlsrc import Fields
from gitops.model.errors import InputError
from gitops.model.findings import Finding, ObjectRef, Severity, SourceLocation
from gitops.model.rules import Rule
from gitops.model.textsafe import plural

WAIVERS_FILE = "policies/waivers.yaml"
ENTRY_FIELDS = ("rule", "target", "reason", "expires")
TARGET_FIELDS = ("cluster", "object", "path")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"

WAIVER_EXPIRED = Rule(
    id="waiver-expired",
    severity=Severity.ERROR,
    summary="A waiver in policies/waivers.yaml is past its expiry date.",
    rationale="A waiver accepts a known problem for a limited time. Once expired it waives nothing, "
              "so the findings it covered count again; the entry itself shows the problem was never fixed.",
    fix="Fix the findings the waiver covers and delete the waiver, or, if its reason still holds, "
        "set a new expires date.",
)
WAIVER_UNUSED = Rule(
    id="waiver-unused",
    severity=Severity.WARNING,
    summary="A waiver in policies/waivers.yaml matches no finding.",
    rationale="A waiver that matches nothing was made obsolete by a fix or has a typo in its target; "
              "left in place it would silently waive a future finding it was never meant for.",
    fix="Delete the waiver, or correct its rule and target globs so they match the finding they are meant for.",
)
RULES: tuple[Rule, ...] = (WAIVER_EXPIRED, WAIVER_UNUSED)


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    expires: date
    line: int  # where the entry starts in policies/waivers.yaml
    column: int = 1
    cluster: str | None = None  # glob over the finding's cluster
    obj: str | None = None  # glob over "Kind/namespace/name" ("Kind/name" when cluster-scoped)
    path: str | None = None  # glob over the finding's repository-relative source path

    def expired(self, today: date) -> bool:
        """Valid through the whole `expires` day."""
        return today > self.expires

    def matches(self, f: Finding) -> bool:
        if f.rule != self.rule:
            return False
        pairs = ((self.cluster, f.cluster), (self.obj, object_key(f.obj)),
                 (self.path, f.location.path if f.location else None))
        return all(glob is None or (value is not None and fnmatchcase(value, glob)) for glob, value in pairs)

    def key(self) -> tuple[str, str | None, str | None, str | None]:
        """What the waiver covers: two revisions' waivers with the same key are the same waiver."""
        return (self.rule, self.cluster, self.obj, self.path)

    def target_text(self) -> str:
        globs = (("cluster", self.cluster), ("object", self.obj), ("path", self.path))
        return ", ".join(f"{k} {v}" for k, v in globs if v is not None)


def object_key(obj: ObjectRef | None) -> str | None:
    """The text an object glob is matched against."""
    if obj is None:
        return None
    return f"{obj.kind}/{obj.namespace}/{obj.name}" if obj.namespace else f"{obj.kind}/{obj.name}"


# --- loading -------------------------------------------------------------------------------------

def _fail(message: str, node: yaml.Node) -> InputError:
    return InputError(message, WAIVERS_FILE, node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass(frozen=True)
class Limits:
    """What a waiver may be: the rules that exist (None: any), those never waived (id: why), and how far
    after `today` it may expire (None: no limit, for reading another revision's file)."""

    known: frozenset[str] | None = None
    never: Mapping[str, str] | None = None
    today: date | None = None
    max_days: int | None = None


def _expires(fields: Fields, limits: Limits) -> date:
    node = fields.get("expires", hint=" (a date, YYYY-MM-DD)")
    assert node is not None
    if not isinstance(node, yaml.ScalarNode) or node.tag not in (_STR, _TIMESTAMP) or not _DATE.match(node.value):
        raise fields.fail("'expires' must be a date written YYYY-MM-DD", node)
    try:
        expires = date.fromisoformat(node.value)
    except ValueError:
        raise fields.fail(f"'expires' is not a real date: {node.value!r}", node) from None
    if limits.today is not None and limits.max_days is not None:
        latest = limits.today + timedelta(days=limits.max_days)
        if expires > latest:
            raise fields.fail(f"'expires' {expires.isoformat()} is more than {limits.max_days} days after today "
                              f"({limits.today.isoformat()}); a waiver lasts at most {limits.max_days} days "
                              f"(waivers.maxDays in policies/config.yaml): set {latest.isoformat()} or sooner, "
                              "and renew it, with a reason, if it still holds then", node)
    return expires


def _check_rule(rule: str, limits: Limits, node: yaml.Node) -> None:
    why = (limits.never or {}).get(rule)
    if why is not None:
        raise _fail(f"{rule} can never be waived: {why}", node)
    known = limits.known
    if known is None or rule in known:
        return
    close = difflib.get_close_matches(rule, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else " (see --list-policies)"
    raise _fail(f"waiver names unknown rule {rule!r}{hint}", node)


def _entry(node: yaml.Node, limits: Limits) -> Waiver:
    fields = Fields(node, WAIVERS_FILE, ENTRY_FIELDS, "a waiver")
    rule = fields.string("rule")
    _check_rule(rule, limits, fields.values["rule"])
    target_node = fields.get("target", hint=" (use cluster: \"*\" to waive a rule everywhere)")
    target = Fields(target_node, WAIVERS_FILE, TARGET_FIELDS, "'target'")
    if not target.values:
        raise target.fail(f"'target' needs at least one of: {', '.join(TARGET_FIELDS)}")
    globs = {k: target.string(k) for k in target.values}
    return Waiver(
        rule=rule,
        reason=fields.string("reason"),
        expires=_expires(fields, limits),
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        cluster=globs.get("cluster"),
        obj=globs.get("object"),
        path=globs.get("path"),
    )


def load(root: Path, known_rules: Iterable[str] | None = None, limits: Limits | None = None) -> list[Waiver]:
    """The waivers of the repository at `root`; none when the file is absent or empty.

    With `known_rules`, a waiver for any other rule id is an error (a typo would waive nothing); `limits`
    adds the rules never waived and the longest lifetime."""
    linked = fsio.linked_part(root, WAIVERS_FILE)
    if linked is not None:
        raise InputError(f"{linked} is a symbolic link; the waivers must be a file of the repository itself",
                         WAIVERS_FILE)
    path = root / WAIVERS_FILE
    if not path.is_file():
        return []
    limits = limits or Limits()
    if known_rules is not None:
        limits = replace(limits, known=frozenset(known_rules))
    return _parse(yamlsrc.compose_file(path, root), limits)


def parse(text: str) -> list[Waiver]:
    """Waivers from the text of a waivers file (another git revision's), with no limits applied."""
    return _parse(yamlsrc.compose_text(text, WAIVERS_FILE), Limits())


def _parse(nodes: list[yaml.Node], limits: Limits) -> list[Waiver]:
    if not nodes:
        return []
    if len(nodes) > 1:
        raise _fail("expected one YAML document: a list of waivers", nodes[1])
    top = nodes[0]
    if isinstance(top, yaml.ScalarNode) and top.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(top, yaml.SequenceNode):
        raise _fail("expected a list of waivers (write [] for none)", top)
    return [_entry(item, limits) for item in top.value]


# --- applying ------------------------------------------------------------------------------------

def _finding(rule: Rule, w: Waiver, message: str) -> Finding:
    return Finding(rule=rule.id, severity=rule.severity, message=message, fix=rule.fix,
                   location=SourceLocation(WAIVERS_FILE, w.line, w.column))


def applied(findings: list[Finding], loaded: Sequence[Waiver], today: date,
            only: Callable[[str], bool]) -> list[Finding]:
    """The findings marked by the waivers of the rules `only` accepts, plus the waivers' own findings, in report
    order: the one application of policies/waivers.yaml, for validate, merge and e2e alike."""
    findings = findings + apply(findings, [w for w in loaded if only(w.rule)], today)
    findings.sort(key=Finding.sort_key)
    return findings


def apply(findings: Iterable[Finding], waivers: Sequence[Waiver], today: date) -> list[Finding]:
    """Mark findings covered by a valid waiver as waived; return findings about the waivers themselves."""
    by_rule: dict[str, list[int]] = defaultdict(list)
    for i, w in enumerate(waivers):
        by_rule[w.rule].append(i)
    matched = [0] * len(waivers)
    for f in findings:
        for i in by_rule.get(f.rule, ()):
            w = waivers[i]
            if w.matches(f):
                matched[i] += 1
                if f.waived is None and not w.expired(today):
                    f.waive(w.reason)
    extra: list[Finding] = []
    for w, n in zip(waivers, matched, strict=True):
        what = f"waiver for {w.rule} ({w.target_text()})"
        if w.expired(today):
            consequence = f"the {plural(n, 'finding')} it covered count again" if n else "it matches no finding any more"
            extra.append(_finding(WAIVER_EXPIRED, w, f"{what} expired on {w.expires.isoformat()}; {consequence}"))
        elif n == 0:
            extra.append(_finding(WAIVER_UNUSED, w, f"{what} matches no finding; it is stale or its target has a typo"))
    return extra
