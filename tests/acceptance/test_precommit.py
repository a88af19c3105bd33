"""The pre-commit hooks, run by the real pre-commit as a user's repository consumes them; and this
repository's own hooks (nox sessions), which start without pip once their virtualenv is installed.

The hook repository is a git copy of this project (pre-commit clones it at a commit and
`pip install`s it, language: python); the consumer is a temporary clone of the GitOps sources
with a .pre-commit-config.yaml naming that commit. The copy's commit is made with fixed dates,
so unchanged code keeps its commit id and pre-commit reuses the environment it installed.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT, edit, project_copy, run_nox
from gitops import cli

pytestmark = pytest.mark.slow  # pre-commit on a temporary clone

GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(Path(os.environ["GITOPS_CACHE_DIR"]) / "pre-commit"))
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _git(root: Path, *args: str) -> str:
    done = _run(["git", *args], root)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pre_commit(root: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pre_commit", *args], root, timeout=900)


@pytest.fixture(scope="module")
def hook_repo() -> tuple[Path, str]:
    """A git repository holding this project's files as they are now; (path, commit)."""
    target = Path(os.environ["GITOPS_CACHE_DIR"]) / "pre-commit-hook-repo"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    project_copy(target)
    _git(target, "init", "-q", "-b", "main")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "hooks")
    return target, _git(target, "rev-parse", "HEAD").strip()


def test_manifest_and_config_are_valid(hook_repo: tuple[Path, str]) -> None:
    assert _pre_commit(PROJECT, "validate-manifest", ".pre-commit-hooks.yaml").returncode == 0
    assert _pre_commit(PROJECT, "validate-config", ".pre-commit-config.yaml").returncode == 0
    offered = [h["id"] for h in yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())]
    own = [h["id"] for r in yaml.safe_load((PROJECT / ".pre-commit-config.yaml").read_text())["repos"]
           for h in r["hooks"]]
    assert offered == own == ["gitops-render", "gitops-validate"]


def test_hooks_render_and_validate_the_staged_change(repo: Path, hook_repo: tuple[Path, str], capsys) -> None:
    path, rev = hook_repo
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {path}\n    rev: {rev}\n    hooks:\n      - id: gitops-render\n"
        "      - id: gitops-validate\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "clean")

    # A staged overlay change that was not rendered: the render hook rewrites clusters/ and fails.
    edit(repo, "base/producer/deployment.yaml", "  replicas: 1\n", "  replicas: 2\n")
    _git(repo, "add", "base/producer/deployment.yaml")
    done = _pre_commit(repo, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gitops render" in done.stdout and "Failed" in done.stdout and "files were modified" in done.stdout
    rendered = repo / "clusters/cluster-2/istio-apps/deployment-sample-producer-v1.yaml"
    assert "  replicas: 2\n" in rendered.read_text()

    # Staged with the rendered result, both hooks pass.
    _git(repo, "add", "-A")
    done = _pre_commit(repo, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Passed") == 2, done.stdout

    # A staged change that breaks a policy: validate (incremental) fails and names the rule.
    edit(repo, "base/producer/deployment.yaml", "sample-producer:1.0.0", "sample-producer:latest")
    assert cli.main(["--root", str(repo), "render"]) == 0
    _git(repo, "add", "-A")
    done = _pre_commit(repo, "run")
    assert done.returncode == 1
    assert "gitops validate (incremental on the staged change)" in done.stdout
    assert "image-pinned" in done.stdout, done.stdout

    # The same through `git commit` with the hooks installed: the commit is refused.
    head = _git(repo, "rev-parse", "HEAD")
    assert _pre_commit(repo, "install").returncode == 0
    done = _run(["git", "commit", "-q", "-m", "floating image"], repo, timeout=900)
    assert done.returncode == 1 and "image-pinned" in done.stdout + done.stderr, done.stdout + done.stderr
    assert _git(repo, "rev-parse", "HEAD") == head


PIP = "python -m pip install"  # how nox logs a session's install


def _own_hooks() -> list[dict]:
    return [h for r in yaml.safe_load((PROJECT / ".pre-commit-config.yaml").read_text())["repos"] for h in r["hooks"]]


def test_own_hooks_are_nox_sessions_that_start_without_pip() -> None:
    """The repository's own hooks run nox sessions, and a warm one (its virtualenv installed: here, the one
    `nox -s validate` made before the tests) runs its command without pip: the exact hook entry of
    gitops-validate, twice; the second run must not install."""
    hooks = {h["id"]: shlex.split(h["entry"]) for h in _own_hooks()}
    assert all(argv[:2] == ["nox", "-s"] and argv[3] == "--" for argv in hooks.values()), hooks
    for _ in range(2):
        done = run_nox(*hooks["gitops-validate"][1:])
        assert done.returncode in (0, 1), done.stdout  # clean, or findings in a working tree being edited
    assert PIP not in done.stdout, done.stdout
    assert "requirements.txt already installed in" in done.stdout and "(unchanged): pip skipped" in done.stdout


def test_sessions_install_on_first_use_and_when_requirements_change(tmp_path: Path) -> None:
    """A fresh clone's first run installs; later runs do not; a changed requirements.txt, or a virtualenv made
    anew (`nox --reuse-venv=no`), installs again. Through nox on a copy of the noxfile whose requirements.txt
    asks for pip alone (already in every new virtualenv, so nothing is downloaded); --install-only stops each
    run after the install step."""
    shutil.copy2(PROJECT / "noxfile.py", tmp_path / "noxfile.py")
    (tmp_path / "scripts").symlink_to(PROJECT / "scripts")  # the stamp is written through gitops.infra.fsio
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pip\n")

    def render(*extra: str) -> str:
        done = run_nox("-f", str(tmp_path / "noxfile.py"), "--envdir", str(tmp_path / ".nox"), "--install-only",
                       *extra, "-s", "render", cwd=tmp_path)
        assert done.returncode == 0, done.stdout
        return done.stdout

    first = render()
    assert "Creating virtual environment" in first and PIP in first
    again = render()
    assert "Reusing existing virtual environment" in again and PIP not in again and "pip skipped" in again
    requirements.write_text("pip\n# a new pin\n")
    assert PIP in render()
    assert PIP not in render()
    anew = render("--reuse-venv=no")
    assert "Creating virtual environment" in anew and PIP in anew
    assert PIP not in render()
    # A stamp that no longer matches (a hand-edited or damaged one) means: install.
    [stamp] = (tmp_path / ".nox").glob("render/.gitops-requirements")
    stamp.write_text("not a digest")
    assert PIP in render()
