"""git.served_copy: the commit the sync run serves, with the working tree's clusters/ on top only when it differs."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops.infra import git
from gitops.model.errors import UsageError

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], env=ENV, check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "clusters" / "a").mkdir(parents=True)
    (root / "clusters" / "a" / "x.yaml").write_text("kind: ConfigMap\n")
    (root / "other.txt").write_text("one\n")
    _git(root.parent, "init", "-q", "-b", "main", str(root))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    return root


def test_head_served_as_the_branch_when_the_working_tree_is_as_committed(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "other.txt").write_text("changed outside clusters/\n")
    head, served = git.served_copy(root, tmp_path / "bare.git", "release", ("clusters",))
    assert head == served == _git(root, "rev-parse", "HEAD")
    assert _git(tmp_path / "bare.git", "rev-parse", "refs/heads/release") == head
    assert _git(tmp_path / "bare.git", "symbolic-ref", "HEAD") == "refs/heads/release"


def test_working_tree_clusters_committed_on_top_and_the_repository_untouched(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "clusters" / "a" / "x.yaml").write_text("kind: Secret\n")
    (root / "clusters" / "a" / "new.yaml").write_text("kind: Service\n")
    before = _git(root, "status", "--porcelain")
    head, served = git.served_copy(root, tmp_path / "bare.git", "main", ("clusters",))
    assert served != head
    bare = tmp_path / "bare.git"
    assert _git(bare, "show", "main:clusters/a/x.yaml") == "kind: Secret"
    assert _git(bare, "show", "main:clusters/a/new.yaml") == "kind: Service"
    assert _git(bare, "show", "main:other.txt") == "one"
    assert _git(root, "status", "--porcelain") == before  # nothing staged or written in the repository


def test_no_commit_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    _git(tmp_path, "init", "-q", str(root))
    with pytest.raises(UsageError, match="no commit to sync"):
        git.served_copy(root, tmp_path / "bare.git", "main")


def test_branch_names() -> None:
    assert git.branch_name("main") and git.branch_name("release/1.2")
    assert not git.branch_name("--output=x") and not git.branch_name("a..b") and not git.branch_name("HEAD")
