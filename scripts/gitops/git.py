"""The one way the tooling asks git anything: read-only, time-limited, refs never read as options.

A ref comes from the command line or CI (`--changed-since`, `--base`); `--end-of-options` and
`rev-parse --verify` make sure `--output=FILE` is a revision git does not know, not an option.
"""
from __future__ import annotations

from pathlib import Path

from . import proc
from .errors import UsageError

TIMEOUT = 120.0


def run(root: Path, *args: str) -> str | None:
    """stdout of `git -C root ARGS`, or None when git says no (not a repository, unknown revision)."""
    done = proc.run(["git", "-C", str(root), *args], what=f"git {args[0] if args else ''}".strip(), timeout=TIMEOUT)
    return done.stdout if done.returncode == 0 else None


def lines(root: Path, *args: str, purpose: str) -> list[str]:
    """Non-empty stdout lines of a git command that must succeed; UsageError naming `purpose` otherwise."""
    done = proc.run(["git", "-C", str(root), *args], what=f"git {args[0]}", timeout=TIMEOUT)
    if done.returncode != 0:
        raise UsageError(f"{purpose}: git {args[0]} failed: {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if line]


def commit(root: Path, ref: str) -> str | None:
    """The commit `ref` names, or None; a ref that starts with '-' is never an option."""
    out = run(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return out.strip() if out else None


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
