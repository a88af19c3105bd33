"""The one way the tooling asks git anything: read-only, time-limited, refs never read as options.

A ref comes from the command line or CI (`--changed-since`, `--base`); `--end-of-options` and
`rev-parse --verify` make sure `--output=FILE` is a revision git does not know, not an option.
The repository is only ever read: `served_copy` (the sync run's git server) writes into a folder of the run's own.
"""
from __future__ import annotations

import os
import re
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from gitops.infra import proc
from gitops.model.errors import ToolError, UsageError

if TYPE_CHECKING:
    from subprocess import CompletedProcess

TIMEOUT = 120.0
MAIN_BRANCHES = ("main", "origin/main")  # what a change is compared with by default (diff, validate's rule changes)


def _git(root: Path, args: tuple[str, ...]) -> CompletedProcess[str]:
    """`git -C root ARGS` within the time limit: the one place the command line is built."""
    return proc.run(["git", "-C", str(root), *args], what=f"git {args[0] if args else ''}".strip(), timeout=TIMEOUT)


def run(root: Path, *args: str) -> str | None:
    """stdout of `git -C root ARGS`, or None when git says no (not a repository, unknown revision)."""
    done = _git(root, args)
    return done.stdout if done.returncode == 0 else None


def value(root: Path, *args: str) -> str | None:
    """The one value a git command prints (a commit, a folder), stripped; None when git says no."""
    out = run(root, *args)
    return out.strip() if out is not None else None


def lines(root: Path, *args: str, purpose: str) -> list[str]:
    """Non-empty stdout lines of a git command that must succeed; UsageError naming `purpose` otherwise."""
    done = _git(root, args)
    if done.returncode != 0:
        raise UsageError(f"{purpose}: git {args[0]} failed: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line]


def commit(root: Path, ref: str) -> str | None:
    """The commit `ref` names, or None; a ref that starts with '-' is never an option."""
    return value(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}") or None


def verified(root: Path, ref: str, option: str) -> str:
    """`commit(ref)`, or a UsageError that names the option the ref came from."""
    found = commit(root, ref)
    if found is None:
        raise UsageError(f"{option}: unknown git revision {ref!r}: give a branch, tag or commit that exists here "
                         "(in CI, check out with fetch-depth: 0)")
    return found


def archive(root: Path, commit: str, sink: Path, max_bytes: int) -> None:
    """`git archive` of a verified commit into the file `sink` (tar), within the time limit and `max_bytes`."""
    done = proc.pipe_to_file(["git", "-C", str(root), "archive", "--format=tar", "--end-of-options", commit], sink,
                             what="git archive", timeout=TIMEOUT, max_bytes=max_bytes)
    if done.returncode != 0:
        raise UsageError(f"could not unpack revision {commit[:12]}: {done.stderr.strip()}")


def in_repository(root: Path) -> bool:
    return value(root, "rev-parse", "--show-toplevel") is not None


@dataclass(frozen=True)
class Base:
    """The revision a change is compared with: as shown ("main", "merge-base(HEAD, main)") and its commit."""

    label: str
    commit: str

    def __str__(self) -> str:
        return f"{self.label} ({self.commit[:12]})"


def base_of(root: Path, ref: str | None, what: str) -> tuple[Base | None, str]:
    """(the base, "") for --base REF (a UsageError when REF is unknown), else the merge base of HEAD with main;
    (None, why there is none) when there is no git, no repository or no merge base. `what` names what the base
    is for, in that reason: validate's rule changes and destructive changes look it up once, here."""
    try:
        in_repo = in_repository(root)
    except ToolError as exc:  # git is not installed: a REF given cannot be read, the default is left out
        if ref is not None:
            raise
        return None, f"{exc}, so there is no base revision to compare {what} with"
    if not in_repo:
        return None, f"not a git repository, so there is no base revision to compare {what} with"
    if ref is not None:
        return Base(ref, verified(root, ref, "--base")), ""
    found = merge_base(root)
    if found is None:
        return None, (f"no merge base of HEAD with {' or '.join(MAIN_BRANCHES)}; pass --base REF (in CI, the pull "
                      "request's base branch)")
    return Base(*found), ""


def merge_base(root: Path) -> tuple[str, str] | None:
    """("merge-base(HEAD, main)", commit), with main, then origin/main; None when neither has one with HEAD."""
    for branch in MAIN_BRANCHES:
        found = value(root, "merge-base", "--end-of-options", "HEAD", branch)
        if found:
            return f"merge-base(HEAD, {branch})", found
    return None


@dataclass(frozen=True)
class Entry:
    """A file of a commit's tree: its mode (120000 is a symbolic link), blob id, size and root-relative path."""

    mode: str
    blob: str
    size: int
    path: str


def tree(root: Path, commit: str, paths: tuple[str, ...]) -> list[Entry]:
    """Every file of `commit` under `paths` (relative to `root`, which may be a folder inside the repository)."""
    entries = []
    for record in (run(root, "ls-tree", "-r", "-z", "--long", "--end-of-options", commit, "--", *paths) or "").split("\0"):
        meta, tab, path = record.partition("\t")
        fields = meta.split()
        if tab and len(fields) == 4 and fields[1] == "blob" and fields[3].isdigit():
            entries.append(Entry(fields[0], fields[2], int(fields[3]), path))
    return entries


def blobs(root: Path, ids: list[str]) -> dict[str, bytes]:
    """The content of the given blobs (callers bound their sizes first: `tree` lists them), in one git process."""
    if not ids:
        return {}
    done = proc.run(["git", "-C", str(root), "cat-file", "--batch"], what="git cat-file", timeout=TIMEOUT,
                    input="".join(f"{i}\n" for i in ids).encode(), text=False)
    out, data, at = {}, done.stdout or b"", 0
    while at < len(data):
        end = data.index(b"\n", at)
        header = data[at:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise UsageError(f"git cat-file: unexpected answer {data[at:end][:80]!r}")
        size = int(header[2])
        out[header[0].decode()] = data[end + 1:end + 1 + size]
        at = end + 1 + size + 1
    return out


# --- the lines a change made: the working tree against a commit -------------------------------------------

DIFF_MAX_BYTES = 64 * 1024 ** 2  # a change whose diff is larger is not read line by line
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """Lines of the working tree (from `start`, 1-based) that differ from the base, and the base's lines they
    replaced (none: added)."""

    path: str
    start: int
    now: tuple[str, ...]
    was: tuple[str, ...]


def hunks(root: Path, commit: str) -> list[Hunk]:
    """Every changed line of the working tree (tracked files, edits not yet committed included) against the
    verified `commit`, with paths relative to `root`: `git diff -U0`, no external diff or text conversion (what
    .gitattributes asks for is not run), renames as deletions and additions, at most DIFF_MAX_BYTES (ToolError
    past it). A path git must quote (a control character, a quote) is left out."""
    with tempfile.TemporaryDirectory(prefix="gitops-change-") as tmp:
        sink = Path(tmp) / "diff"
        done = proc.pipe_to_file(["git", "-C", str(root), "-c", "core.quotepath=off", "diff", "--no-color",
                                  "--no-ext-diff", "--no-textconv", "--no-renames", "--relative", "-U0",
                                  "--src-prefix=a/", "--dst-prefix=b/", commit, "--"], sink, what="git diff",
                                 timeout=TIMEOUT, max_bytes=DIFF_MAX_BYTES)
        if done.returncode != 0:
            raise UsageError(f"git diff {commit[:12]} failed: {done.stderr.strip()}")
        with open(sink, encoding="utf-8", errors="replace", newline="\n") as diff:
            return _parsed(diff)


def _parsed(diff: Iterator[str]) -> list[Hunk]:
    """The hunks of `git diff -U0` output. A file's header (up to its first @@) is read apart from its hunks, so
    an added line that starts with "++ " is never taken for a header."""
    out: list[Hunk] = []
    path: str | None = None
    header = False
    start, now, was = 0, [], []  # type: tuple[int, list[str], list[str]]

    def close() -> None:
        if path is not None and start and (now or was):
            out.append(Hunk(path, start, tuple(now), tuple(was)))

    for raw in diff:
        line = raw.rstrip("\n")
        if line.startswith("diff --git "):
            close()
            path, header, start, now, was = None, True, 0, [], []
        elif header and line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else None  # /dev/null (deleted) or quoted: left out
        elif line.startswith("@@"):
            close()
            header = False
            m = _HUNK.match(line)
            start, now, was = (int(m[1]), [], []) if m else (0, [], [])
        elif not header and line.startswith("+"):
            now.append(line[1:])
        elif not header and line.startswith("-"):
            was.append(line[1:])
    close()
    return out


def untracked(root: Path) -> list[str]:
    """Files under `root` git does not track and does not ignore (a new file of the change), relative to `root`."""
    out = run(root, "ls-files", "-z", "--others", "--exclude-standard")
    return sorted(p for p in (out or "").split("\0") if p)


# --- a base revision, read-only (diff compares with it, e2e applies it first) ----------------------------

ARCHIVE_MAX_BYTES = 2 * 1024 ** 3  # a base revision bigger than this is not a GitOps repository


def resolve_base(root: Path, ref: str | None) -> tuple[str, str]:
    """(ref as given or chosen, commit): REF, or the merge base of HEAD with main (then origin/main)."""
    if not in_repository(root):
        raise UsageError(f"{root} is not inside a git repository; diff compares against a git revision")
    if ref is not None:
        return ref, verified(root, ref, "--base")
    found = merge_base(root)
    if found is None:
        raise UsageError(f"no merge base of HEAD with {' or '.join(MAIN_BRANCHES)}; pass --base REF")
    return found


@contextmanager
def checkout(root: Path, commit: str) -> Iterator[Path]:
    """The tree of `commit` in a temporary folder (removed afterwards, also on error); yields the folder of `root`."""
    top = Path(value(root, "rev-parse", "--show-toplevel") or root)
    prefix = value(root, "rev-parse", "--show-prefix") or ""
    with tempfile.TemporaryDirectory(prefix="gitops-diff-") as tmp:
        tar = Path(tmp) / "base.tar"
        tree = Path(tmp) / "tree"
        archive(top, commit, tar, ARCHIVE_MAX_BYTES)
        try:
            with tarfile.open(tar) as tarball:
                # The "data" filter refuses absolute paths, '..', links leaving the folder and device files.
                tarball.extractall(tree, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise UsageError(f"could not unpack revision {commit[:12]}: {exc}") from None
        tar.unlink()
        base = tree / prefix
        from gitops.infra import owned  # owned asks git whether a folder is tracked

        with owned.borrowed(base, root):  # the head's pinned tools and cache (both keyed by version and content)
            yield base


# --- the commit under test, served to Argo CD (gitops sync) ---------------------------------------------------

_QUIET = ("-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main")
_IDENTITY = {"GIT_AUTHOR_NAME": "gitops sync", "GIT_AUTHOR_EMAIL": "sync@gitops.invalid",
             "GIT_COMMITTER_NAME": "gitops sync", "GIT_COMMITTER_EMAIL": "sync@gitops.invalid",
             "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


def changed(root: Path, paths: tuple[str, ...]) -> list[str]:
    """Files under `paths` (relative to `root`) that differ from HEAD: modified, staged, deleted or untracked."""
    out = run(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths) or ""
    return [entry[3:] for entry in out.split("\0") if len(entry) > 3]


def _in(folder: Path, args: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    done = proc.run(["git", *_QUIET, *args], what=f"git {args[0] if args else ''}", timeout=TIMEOUT, cwd=folder,
                    env=env)
    if done.returncode != 0:
        raise UsageError(f"git {args[0]} failed: {done.stderr.strip()[:2000]}")
    return done.stdout.strip()


def served_copy(root: Path, bare: Path, branch: str, worktree: tuple[str, ...] = ()) -> tuple[str, str]:
    """A bare repository at `bare` (a folder of the run's own) whose `branch` (and HEAD) is the commit at `root`'s
    HEAD, fetched without its history; with `worktree` paths, a commit on top of it holding those paths as the working
    tree has them (tracked or not, .gitignore applied). Nothing is written to the repository at `root`.
    Returns (HEAD's commit, the commit served)."""
    top = Path(value(root, "rev-parse", "--show-toplevel") or root)
    head = commit(root, "HEAD")
    if head is None:
        raise UsageError(f"{root} has no commit to sync: commit the repository first")
    bare.mkdir(parents=True)
    base_env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(bare), "GIT_CONFIG_NOSYSTEM": "1"}
    _in(bare, ("init", "-q", "--bare", "."), base_env)
    _in(bare, ("fetch", "-q", "--no-tags", "--depth=1", f"file://{top}", f"+{head}:refs/heads/{branch}"), base_env)
    served = head
    if worktree:
        prefix = value(root, "rev-parse", "--show-prefix") or ""
        env = {**base_env, **_IDENTITY, "GIT_INDEX_FILE": str(bare / "sync-index")}
        where = ("--git-dir", str(bare), "--work-tree", str(top))
        _in(bare, (*where, "read-tree", head), env)
        _in(bare, (*where, "add", "-A", "--", *(f"{prefix}{p}" for p in worktree)), env)
        tree = _in(bare, (*where, "write-tree"), env)
        if tree != _in(bare, ("rev-parse", f"{head}^{{tree}}"), env):  # else the paths are as committed
            served = _in(bare, (*where, "commit-tree", tree, "-p", head, "-m", f"the working tree on {head[:12]}"),
                         env)
            _in(bare, ("update-ref", f"refs/heads/{branch}", served), env)
    _in(bare, ("symbolic-ref", "HEAD", f"refs/heads/{branch}"), base_env)
    return head, served


def branch_name(name: str) -> bool:
    """Whether `name` can be a branch (git check-ref-format --branch)."""
    if name.startswith("-"):
        return False
    done = proc.run(["git", "check-ref-format", "--branch", name], what="git check-ref-format", timeout=TIMEOUT)
    return done.returncode == 0 and done.stdout.strip() == name
