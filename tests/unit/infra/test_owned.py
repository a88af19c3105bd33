"""Tool-owned folders (owned.py) and the cache folder's files (cachefs.py): nothing the checkout ships is read or
run, the default cache lives outside the repository, links are never followed, and what a run did not write
is a miss. The same through the command line: tests/badinput/owned.yaml."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gitops.infra import cachefs, owned
from gitops.model.errors import InputError


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(root), *args],
                   check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "inventory.yaml").write_text("x: 1\n")
    _git(root, "init", "-q")
    return root


def test_the_default_cache_is_outside_the_repository_one_folder_per_repository(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first, second = tmp_path / "a" / "repo", tmp_path / "b" / "repo"
    assert owned.cache_dir(first).parent == tmp_path / "xdg" / "gitops-mcs"
    assert owned.cache_dir(first) != owned.cache_dir(second)
    assert owned.cache_dir(first).name.startswith("repo-")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: the XDG spec says to ignore it
    assert owned.cache_dir(first).parent == Path.home() / ".cache" / "gitops-mcs"
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path / "mine"))
    assert owned.cache_dir(first) == tmp_path / "mine"


@pytest.mark.parametrize("ship", ["tracked file", "tracked link", "untracked link", "linked entry"])
def test_a_tool_folder_in_the_checkout_is_refused_when_shipped(checkout: Path, tmp_path: Path, ship: str) -> None:
    folder = checkout / ".tools" / "bin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if ship == "tracked file":
        folder.mkdir(parents=True)
        (folder / "kbuild").write_text("#!/bin/sh\n")
        _git(checkout, "add", "-f", ".tools")
        where = ".tools/bin/kbuild"
    elif ship in ("tracked link", "untracked link"):
        (checkout / ".tools").symlink_to(elsewhere)
        if ship == "tracked link":
            _git(checkout, "add", "-f", ".tools")
        where = ".tools"
    else:
        folder.mkdir(parents=True)
        (folder / "kustomize").symlink_to("/bin/true")
        where = ".tools/bin/kustomize"
    with pytest.raises(InputError) as err:
        owned.guarded(checkout, folder, owned.TOOLS_ENV)
    assert err.value.file == where


def test_a_tool_folder_outside_the_checkout_is_the_users_own(checkout: Path, tmp_path: Path) -> None:
    """GITOPS_TOOLS_DIR or GITOPS_CACHE_DIR outside the repository: the user chose it, nothing is refused."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "kustomize").symlink_to("/bin/true")
    assert owned.guarded(checkout, folder, owned.TOOLS_ENV) == folder


def test_a_clean_tool_folder_in_the_checkout_is_used(checkout: Path) -> None:
    folder = checkout / ".cache"
    (folder / "validate").mkdir(parents=True)
    (folder / "validate" / "entry.json").write_text("{}")
    assert owned.guarded(checkout, folder, owned.CACHE_ENV) == folder


def test_a_borrowed_tree_uses_the_checkouts_folders(checkout: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """diff's base revision (all of it from git) never supplies tools or a cache of its own."""
    monkeypatch.delenv("GITOPS_TOOLS_DIR", raising=False)
    tree = tmp_path / "base"
    (tree / ".tools" / "bin").mkdir(parents=True)
    with owned.borrowed(tree, checkout):
        assert owned.tools_dir(tree) == checkout / ".tools" / "bin"
    assert owned.tools_dir(tree) == tree / ".tools" / "bin"


# --- the cache folder's files ---------------------------------------------------------------------------------

def test_folder_replaces_a_link_and_never_follows_it(tmp_path: Path) -> None:
    base, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    base.mkdir()
    (base / "validate").symlink_to(outside)
    made = cachefs.folder(base, "validate", "builds")
    assert made == base / "validate" / "builds" and not (base / "validate").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["keep"]


def test_read_refuses_links_fifos_and_big_files(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")  # would block a plain open() for ever
    assert cachefs.read(tmp_path / "real", 10) == b"data"
    assert cachefs.read(tmp_path / "real", 3) is None
    assert cachefs.read(tmp_path / "link", 10) is None
    assert cachefs.read(tmp_path / "fifo", 10) is None
    assert cachefs.read(tmp_path / "missing", 10) is None


def test_prune_never_leaves_the_folder(tmp_path: Path) -> None:
    top, outside = tmp_path / "cache" / "builds", tmp_path / "outside"
    (top / "ab").mkdir(parents=True)
    outside.mkdir()
    for folder in (top / "ab", outside):
        (folder / "old.json").write_text("{}")
        os.utime(folder / "old.json", (0, 0))
    (top / "cd").symlink_to(outside)  # a folder link
    (top / "ab" / "ef.json").symlink_to(outside / "old.json")  # a file link
    cachefs.prune(top, 30)
    assert sorted(p.name for p in outside.iterdir()) == ["old.json"]
    assert sorted(p.relative_to(top).as_posix() for p in top.rglob("*")) == ["ab"]


def test_the_key_is_private_and_replaced_when_it_is_not(tmp_path: Path) -> None:
    base = tmp_path / "cache"
    first = cachefs.Seal(base).tag(b"x")
    key = base / cachefs.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    assert cachefs.Seal(base).tag(b"x") == first  # kept
    key.chmod(0o644)  # readable by others: no longer a secret
    assert cachefs.Seal(base).tag(b"x") != first
    assert key.stat().st_mode & 0o777 == 0o600


def _files() -> dict[str, str]:
    return {"configmap-v1.json": '{"type": "object", "required": ["data"]}', "sub/kind_v1.json": "{}"}


@pytest.mark.parametrize("damage", ["replaced", "added", "removed", "linked", "manifest rewritten", "none"])
def test_a_sealed_folder_is_made_again_unless_exactly_what_was_written(tmp_path: Path, damage: str) -> None:
    """Converted schemas are read by kubeconform directly: a replaced, added or removed file (an extra schema makes
    an unknown kind valid) or a link is never used; the folder is made again."""
    base = tmp_path / "cache"
    target = base / "schemas" / "k8s" / "v1.33"
    calls = []

    def make() -> dict[str, str]:
        calls.append(1)
        return _files()

    cachefs.sealed(base, target, make)
    if damage == "replaced":
        (target / "new").write_text("{}")
        os.replace(target / "new", target / "configmap-v1.json")
    elif damage == "added":
        (target / "sub" / "unknown_v1.json").write_text("{}")
    elif damage == "removed":
        (target / "sub" / "kind_v1.json").unlink()
    elif damage == "linked":
        (target / "configmap-v1.json").unlink()
        (target / "configmap-v1.json").symlink_to(tmp_path / "elsewhere.json")
        (tmp_path / "elsewhere.json").write_text("{}")
    elif damage == "manifest rewritten":  # the sha256 of a permissive schema, recomputed as a forger would
        (target / "configmap-v1.json").write_text("{}")
        manifest = json.loads((target / cachefs.MANIFEST).read_text())
        manifest["files"]["configmap-v1.json"] = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        (target / cachefs.MANIFEST).write_text(json.dumps(manifest))
    assert cachefs.sealed(base, target, make) == target
    assert len(calls) == (1 if damage == "none" else 2)
    assert {p.relative_to(target).as_posix(): p.read_text() for p in target.rglob("*.json")
            if p.name != cachefs.MANIFEST} == _files()
