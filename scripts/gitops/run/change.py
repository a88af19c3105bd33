"""The lines a change made: the working tree's changed lines since the base revision (git.base_of: `--base REF`,
else the merge base of HEAD with main, then origin/main), as model/causes.Change.

validate and merge compare the rules (run/rulediff.py) and find the causes of their findings against the same
base; diff uses its own base. Without git or a base, the reports say why rather than showing "none".
"""
from __future__ import annotations

from pathlib import Path

from gitops.infra import git
from gitops.model.causes import Change, ChangedLine
from gitops.model.errors import ToolError

MAX_LINE_CHARS = 1000  # of a changed line kept (a cause's sentence shows far less)


def since(root: Path, b: git.Base | None, note: str = "") -> Change:
    """The lines of the working tree at `root` that differ from `b`'s commit (git.base_of's, looked up once per
    command), untracked files included (every line new); a Change with only `note` without a base. A diff over
    git's limit (git.DIFF_MAX_BYTES) gives a Change with only a note: no causes."""
    if b is None:
        return Change(note=note)
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
    return Change(str(b), lines=lines, new_files=frozenset(new_files))
