"""The folders the tooling owns: its binaries (`.tools/bin`, or GITOPS_TOOLS_DIR) and its cache (outside the
repository by default, or GITOPS_CACHE_DIR).

A pull request writes the checkout, and git-ignored folders are no exception (`git add -f`). So a tool-owned
folder that lies inside the checkout is used only when no link leads to it or sits in it, and git tracks
nothing in it: otherwise the run stops with exit 2, naming the path, before anything is read from it or run.
The cache defaults to the user's cache folder ($XDG_CACHE_HOME, else ~/.cache), one folder per repository,
so a checkout cannot plant cache entries at all; the entries are authenticated anyway (cachefs.py).
"""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gitops.infra import git, settings
from gitops.model.errors import InputError, ToolError

CACHE_ENV, TOOLS_ENV = settings.CACHE_DIR, settings.TOOLS_DIR
_checked: set[tuple[str, str]] = set()  # (root, folder) pairs found clean in this process
_borrowed: dict[str, Path] = {}  # a temporary tree (diff's base revision) -> the checkout whose folders it uses


def default_cache(root: Path) -> Path:
    """$XDG_CACHE_HOME/gitops-mcs/<name>-<hash of the repository's real path> (~/.cache when XDG_CACHE_HOME is
    unset or, as the XDG spec says to treat it, relative)."""
    xdg = settings.current().xdg_cache_home
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    real = os.path.realpath(root)
    return base / "gitops-mcs" / f"{os.path.basename(real) or 'root'}-{hashlib.sha256(real.encode()).hexdigest()[:16]}"


def cache_dir(root: Path) -> Path:
    """The cache folder of the repository at `root` (GITOPS_CACHE_DIR, else default_cache), checked by `guarded`."""
    home = _borrowed.get(str(root), root)
    env = settings.current().cache_dir
    return guarded(home, Path(env) if env else default_cache(home), CACHE_ENV)


def tools_dir(root: Path) -> Path:
    """The folder of the pinned binaries (GITOPS_TOOLS_DIR, else .tools/bin), checked by `guarded`."""
    home = _borrowed.get(str(root), root)
    env = settings.current().tools_dir
    return guarded(home, Path(env) if env else home / ".tools" / "bin", TOOLS_ENV)


@contextmanager
def borrowed(tree: Path, home: Path) -> Iterator[None]:
    """While the block runs, `tree` (a revision unpacked by diff, all of it from git) uses the tools and cache of
    the checkout `home`, which were checked; nothing tool-owned is read from `tree` itself."""
    _borrowed[str(tree)] = home
    try:
        yield
    finally:
        _borrowed.pop(str(tree), None)


def _inside(folder: Path, root: Path) -> str | None:
    """`folder` relative to `root` (POSIX) when it lies in the checkout, lexically or once links are resolved."""
    for base, path in ((os.path.abspath(root), os.path.abspath(folder)),
                       (os.path.realpath(root), os.path.realpath(folder))):
        rel = os.path.relpath(path, base)
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            return Path(rel).as_posix()
    return None


def guarded(root: Path, folder: Path, env: str) -> Path:
    """`folder`, refused (InputError naming the path) when it lies in the checkout at `root` and a link leads to it,
    a link sits directly in it, or git tracks anything in it. Checked once per process."""
    key = (str(root), str(folder))
    if key in _checked:
        return folder
    rel = _inside(folder, root)
    if rel is not None:
        fix = (f"tool-owned folders must hold only what the tooling writes; remove it from the pull request, or set "
               f"{env} to a folder outside the repository")
        path = root
        for part in ("" if rel == "." else rel).split("/"):
            path = path / part if part else path
            if part and os.path.islink(path):
                raise InputError(f"is a link (to {os.readlink(path)}) where the tooling keeps its own files: {fix}",
                                 path.relative_to(root).as_posix())
        if os.path.isdir(folder):
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_symlink():
                    raise InputError(f"is a link (to {os.readlink(entry.path)}) in a folder the tooling owns: {fix}",
                                     f"{rel}/{entry.name}".removeprefix("./"))
        tracked = _tracked(root, rel)
        if tracked:
            raise InputError(f"git tracks this file in a folder the tooling owns ({rel}/): {fix} "
                             f"(`git rm -r --cached {rel}`)", tracked[0])
    _checked.add(key)
    return folder


def _tracked(root: Path, rel: str) -> list[str]:
    """Paths git tracks under `rel` (none when `root` is not in a git work tree, or git is not installed)."""
    try:
        out = git.run(root, "ls-files", "-z", "--", rel)
    except ToolError:
        return []
    return sorted(p for p in (out or "").split("\0") if p)
