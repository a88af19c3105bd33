"""What a change is compared with, and the lines it made: the base revision (`--base REF`, else the merge base of
HEAD with main, then origin/main) and the working tree's changed lines since it (model/causes.Change).

validate and merge compare the rules (run/rulediff.py) and find the causes of their findings against the same
base; diff uses its own base. Without git or a base, the reports say why rather than showing "none".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops.infra import git
from gitops.model.causes import Change, ChangedLine
from gitops.model.errors import ToolError

MAX_LINE_CHARS = 1000  # of a changed line kept (a cause's sentence shows far less)


@dataclass(frozen=True)
class Base:
    """The revision a change is compared with: `label` ("merge-base(HEAD, main)") and its commit; without one,
    `note` says why."""

    label: str = ""
    commit: str = ""
    note: str = ""

    def shown(self) -> str:
        """"merge-base(HEAD, main) (0123456789ab)": how every report names the base."""
        return f"{self.label} ({self.commit[:12]})"


def base(root: Path, ref: str | None) -> Base:
    """The base of the working tree at `root`: REF (a UsageError when unknown), or the merge base with main."""
    try:
        in_repository = git.in_repository(root)
    except ToolError as exc:  # git is not installed: a REF given cannot be read, the default is left out
        if ref is not None:
            raise
        return Base(note=f"{exc}, so there is no base revision to compare with")
    if not in_repository:
        return Base(note="not a git repository, so there is no base revision to compare with")
    if ref is not None:
        return Base(ref, git.verified(root, ref, "--base"))
    found = git.merge_base(root)
    if found is None:
        return Base(note=f"no merge base of HEAD with {' or '.join(git.MAIN_BRANCHES)}; pass --base REF "
                         "(in CI, the pull request's base branch)")
    return Base(*found)


def since(root: Path, b: Base) -> Change:
    """The lines of the working tree at `root` that differ from `b`'s commit, untracked files included (every
    line new). A diff over git's limit (git.DIFF_MAX_BYTES) gives a Change with only a note: no causes."""
    if not b.commit:
        return Change(note=b.note)
    try:
        hunks = git.hunks(root, b.commit)
        new_files = git.untracked(root)
    except ToolError as exc:
        return Change(note=f"the changed lines could not be read: {exc}")
    lines: dict[str, dict[int, ChangedLine]] = {}
    for h in hunks:
        at = lines.setdefault(h.path, {})
        paired = len(h.was) == len(h.now)
        for i, text in enumerate(h.now):
            at[h.start + i] = ChangedLine(h.path, h.start + i, text[:MAX_LINE_CHARS],
                                          h.was[i][:MAX_LINE_CHARS] if paired else None)
    return Change(b.shown(), lines=lines, new_files=frozenset(new_files))
