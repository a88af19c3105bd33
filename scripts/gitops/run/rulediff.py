"""Which rules a change changes: the working tree's policies/config.yaml, policies/waivers.yaml, policy
code, crds.lock.yaml and schemas/ against a base revision, as rulechanges.RuleChanges.

The base's files are read from git (`ls-tree`, then `cat-file` of the three that are parsed; code and
schema files compare by blob id), never checked out. validate and merge compare with the base of
run/change.py (`--base REF`, by default the merge base of HEAD with main, then origin/main); diff uses its
own base. Without a base the reports say why, rather than showing "no rule changes".
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Callable, TypeVar

from gitops.infra import crds, git, schemas, yamlsrc
from gitops.run import ruleconfig
from gitops.run.stages import waivers
from gitops.model.errors import InputError
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.rules import Policy, value_text
from gitops.model.rulechanges import (CRD_LOCK, PARAMETER, POLICY_CODE, RULE_OFF, RULE_ON, SCHEMA_FILE, SEVERITY, TOOLING_CODE, UNREADABLE, WAIVER_ADDED, WAIVER_CHANGED, WAIVER_LIFETIME, WAIVER_REMOVED, RuleChange, RuleChanges)

POLICIES = "policies"
# The validator itself: a pull request's CI runs its own copy, so a change here can change any verdict.
TOOLING = ("scripts/gitops", "tools", "noxfile.py", "requirements.txt", ".github/workflows")
WATCHED = (POLICIES, crds.LOCK_FILE, schemas.HANDWRITTEN, *TOOLING)
TOOLING_NAMED = 5  # files named per tooling folder; the rest are counted
PARSED = (ruleconfig.CONFIG_FILE, waivers.WAIVERS_FILE, crds.LOCK_FILE)  # compared by meaning, not bytes
_NOT_SOURCE = "__pycache__"
_LINK = "120000"
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}
T = TypeVar("T")


WHAT = "the rules and the clusters"  # what a base revision is looked up for (git.base_of)


def against(root: Path, base: git.Base | None, note: str, config: ruleconfig.Config, registry: tuple[Policy, ...],
            findings: list[Finding]) -> RuleChanges:
    """The rule changes of the working tree since `base` (git.base_of's, looked up once per command); a
    RuleChanges with only `note` when there is none."""
    if base is None:
        return RuleChanges(note=note)
    return compare(root, base.label, base.commit, config, registry, findings)


def compare(root: Path, label: str, commit: str, config: ruleconfig.Config, registry: tuple[Policy, ...],
            findings: list[Finding]) -> RuleChanges:
    """What changed between `commit` (shown as `label`) and the working tree; `findings` (the working tree's,
    waived ones included) give an added waiver's reach."""
    base = {e.path: e for e in git.tree(root, commit, WATCHED) if _NOT_SOURCE not in e.path.split("/")}
    texts = _texts(root, base)
    changes = [*_config_changes(root, texts, config, registry), *_waiver_changes(root, texts, findings),
               *_lock_changes(root, texts), *_file_changes(root, base)]
    return RuleChanges(f"{label} ({commit[:12]})", changes=tuple(changes))


# --- the base revision's files ---------------------------------------------------------------------

def _texts(root: Path, base: dict[str, git.Entry]) -> dict[str, str | None]:
    """The base's text of each PARSED file it has (None: there, but not a readable file of the limit's size)."""
    readable = {rel: e for rel, e in base.items()
                if rel in PARSED and e.mode != _LINK and e.size <= yamlsrc.max_file_bytes()}
    blobs = git.blobs(root, [e.blob for e in readable.values()])
    out: dict[str, str | None] = {rel: None for rel in PARSED if rel in base}
    for rel, e in readable.items():
        try:
            out[rel] = blobs[e.blob].decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
    return out


def _from_base(rel: str, texts: dict[str, str | None], parse: Callable[[str], T], empty: T) -> T | RuleChange:
    """The base's file parsed (`empty` when it has none), or a change saying it could not be compared."""
    if rel not in texts:
        return empty
    text = texts[rel]
    try:
        if text is None:
            raise InputError("not a readable text file within the size limit", rel)
        return parse(text)
    except InputError as exc:
        return RuleChange(UNREADABLE, f"the base revision's {rel} could not be read ({exc}); what it set is not "
                          "compared", SourceLocation(rel, 1), True)


# --- policies/config.yaml --------------------------------------------------------------------------

def _config_changes(root: Path, texts: dict[str, str | None], head: ruleconfig.Config,
                    registry: tuple[Policy, ...]) -> list[RuleChange]:
    base = _from_base(ruleconfig.CONFIG_FILE, texts, lambda t: ruleconfig.parse(t, registry),
                      ruleconfig.Config(registry))
    if isinstance(base, RuleChange):
        return [base]
    exists = (root / ruleconfig.CONFIG_FILE).is_file()

    def at(*key: str) -> SourceLocation | None:
        line = head.lines.get(key)
        return SourceLocation(ruleconfig.CONFIG_FILE, line or 1) if exists else None

    before = {p.id: p for p in (*base.policies, *base.disabled)}
    after = {p.id: p for p in (*head.policies, *head.disabled)}
    off_before, off_after = {p.id for p in base.disabled}, {p.id for p in head.disabled}
    out = []
    for rule_id, now in after.items():
        was = before.get(rule_id)
        if was is None:
            continue
        if rule_id in off_after and rule_id not in off_before:
            out.append(RuleChange(RULE_OFF, f"rule {rule_id} switched off", at("disabled", rule_id), True))
        elif rule_id in off_before and rule_id not in off_after:
            out.append(RuleChange(RULE_ON, f"rule {rule_id} switched on again", at(), False))
        if now.severity != was.severity:
            lower = _RANK[now.severity] > _RANK[was.severity]
            out.append(RuleChange(SEVERITY, f"rule {rule_id} severity {'lowered' if lower else 'raised'}: "
                                  f"{was.severity.value} → {now.severity.value}", at("severity", rule_id), lower))
        old, new = was.settings, now.settings
        for name in new:
            if old.get(name) != new[name]:
                out.append(RuleChange(PARAMETER, f"rule {rule_id} parameter {name}: {value_text(old.get(name))} → "
                                      f"{value_text(new[name])}", at("parameter", rule_id, name), True))
    out.sort(key=lambda c: c.location or SourceLocation("", 0))
    if head.waiver_days != base.waiver_days:
        out.append(RuleChange(WAIVER_LIFETIME, f"waivers.maxDays (a waiver's longest lifetime): {base.waiver_days} "
                              f"→ {head.waiver_days} days", at("maxDays"), head.waiver_days > base.waiver_days))
    return out


# --- policies/waivers.yaml -------------------------------------------------------------------------

def _waiver_changes(root: Path, texts: dict[str, str | None], findings: list[Finding]) -> list[RuleChange]:
    none: list[waivers.Waiver] = []
    base = _from_base(waivers.WAIVERS_FILE, texts, waivers.parse, none)
    if isinstance(base, RuleChange):
        return [base]
    left: dict[tuple, list[waivers.Waiver]] = {}
    for w in base:
        left.setdefault(w.key(), []).append(w)
    out = []
    for w in waivers.load(root):  # the limits were checked when validate loaded them
        at = SourceLocation(waivers.WAIVERS_FILE, w.line, w.column)
        what = f"waiver for {w.rule} ({w.target_text()})"
        earlier = left.get(w.key())
        if not earlier:
            reach = sum(1 for f in findings if not f.counts and w.matches(f))
            out.append(RuleChange(WAIVER_ADDED, f"{what} added, expires {w.expires.isoformat()}, reason "
                                  f"{w.reason!r}; it waives {reach} finding{'' if reach == 1 else 's'} now", at, True))
            continue
        was = earlier.pop(0)
        if w.expires != was.expires:
            later = w.expires > was.expires
            out.append(RuleChange(WAIVER_CHANGED, f"{what} {'extended' if later else 'shortened'}: expires "
                                  f"{was.expires.isoformat()} → {w.expires.isoformat()}", at, later))
        if w.reason != was.reason:
            out.append(RuleChange(WAIVER_CHANGED, f"{what}: reason {was.reason!r} → {w.reason!r}", at, False))
    for gone in (w for ws in left.values() for w in ws):
        out.append(RuleChange(WAIVER_REMOVED, f"waiver for {gone.rule} ({gone.target_text()}) removed", None, False))
    return out


# --- crds.lock.yaml --------------------------------------------------------------------------------

def _lock_changes(root: Path, texts: dict[str, str | None]) -> list[RuleChange]:
    if crds.LOCK_FILE not in texts and not (root / crds.LOCK_FILE).is_file():
        return []
    base = _from_base(crds.LOCK_FILE, texts, crds.parse_lock, crds.Lock(None, ()))
    if isinstance(base, RuleChange):
        return [base]
    head = crds.load_lock(root) if (root / crds.LOCK_FILE).is_file() else crds.Lock(None, ())
    before = {c.name: c for c in base.crds}
    out = []
    for c in head.crds:
        at = SourceLocation(crds.LOCK_FILE, c.line)
        was = before.pop(c.name, None)
        if was is None:
            out.append(RuleChange(CRD_LOCK, f"locked CRD {c.name} added ({c.url})", at, True))
        elif (was.url, was.sha256) != (c.url, c.sha256):
            how = f"{was.url} → {c.url}" if was.url != c.url else "same URL, new sha256"
            out.append(RuleChange(CRD_LOCK, f"locked CRD {c.name} changed: {how}", at, True))
    for gone in before.values():
        out.append(RuleChange(CRD_LOCK, f"locked CRD {gone.name} removed (its kinds have no schema now)", None, True))
    return out


# --- policy code and schemas/ ----------------------------------------------------------------------

def _blob_id(data: bytes, like: str) -> str:
    """git's id of a blob with this content, in the hash the repository uses (`like`: one of its ids)."""
    digest = hashlib.sha256() if len(like) == 64 else hashlib.sha1()
    digest.update(b"blob %d\0" % len(data) + data)
    return digest.hexdigest()


def _head_files(root: Path, like: str) -> dict[str, tuple[bool, str]]:
    """{path: (is a link, blob id or what stands for it)} of the working tree under WATCHED, never following
    a link and never reading a FIFO, a device or a file over the size limit."""
    out: dict[str, tuple[bool, str]] = {}

    def add(path: str, rel: str) -> None:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            out[rel] = (True, _blob_id(os.fsencode(os.readlink(path)), like))
        elif not stat.S_ISREG(info.st_mode):
            out[rel] = (False, "not a regular file")
        elif info.st_size > yamlsrc.max_file_bytes():
            out[rel] = (False, f"{info.st_size} bytes")
        else:
            with open(path, "rb") as fh:
                out[rel] = (False, _blob_id(fh.read(), like))

    for top in WATCHED:
        start = root / top
        if not os.path.isdir(start) or os.path.islink(start):
            if os.path.lexists(start):
                add(str(start), top)
            continue
        for folder, dirs, names in os.walk(start):
            dirs[:] = sorted(d for d in dirs if d != _NOT_SOURCE)
            rel_folder = Path(folder).relative_to(root).as_posix()
            for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
                add(os.path.join(folder, name), f"{rel_folder}/{name}")
    return out


def _file_changes(root: Path, base: dict[str, git.Entry]) -> list[RuleChange]:
    """One change per policy or schema file; one per tooling folder (or file), naming its first files."""
    like = next(iter(base.values())).blob if base else "0" * 40
    head = _head_files(root, like)
    out = []
    tooling: dict[str, list[str]] = {}
    for rel in sorted(set(base) | set(head)):
        if rel in PARSED:
            continue
        was, now = base.get(rel), head.get(rel)
        if was is not None and now is not None and (was.mode == _LINK, was.blob) == now:
            continue
        how = "added" if was is None else "removed" if now is None else "changed"
        top = next((t for t in TOOLING if rel == t or rel.startswith(f"{t}/")), None)
        if top is not None:  # a file of a tooling folder, or a tooling file itself
            tooling.setdefault(top, []).append(f"{rel.removeprefix(top + '/')} {how}" if rel != top else how)
            continue
        kind, what = (POLICY_CODE, "policy code") if rel.startswith(f"{POLICIES}/") else (SCHEMA_FILE, "schema")
        out.append(RuleChange(kind, f"{what} {how}: {rel}", None if now is None else SourceLocation(rel, 1), True))
    for top, files in tooling.items():
        named = ", ".join(files[:TOOLING_NAMED]) + (f" and {len(files) - TOOLING_NAMED} more"
                                                     if len(files) > TOOLING_NAMED else "")
        out.append(RuleChange(TOOLING_CODE, f"validator code changed: {top} ({named})", None, True))
    return out
