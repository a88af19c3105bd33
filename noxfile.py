"""Entry points: `nox -s render`, `nox -s validate`, `nox -s tests` (and lint, diff, e2e, bench).

Each session installs the pinned Python dependencies; the Go tools (kustomize, kubeconform)
are built by the tooling itself into .tools/bin on first use.
"""
from __future__ import annotations

import os
from pathlib import Path

import nox
import nox.command

ROOT = Path(__file__).parent
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["validate", "tests"]
nox.options.error_on_missing_interpreters = True

ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), str(ROOT)])}


def _install(session: nox.Session) -> None:
    session.install("-q", "-r", str(ROOT / "requirements.txt"))


def _gitops(session: nox.Session, command: str) -> None:
    """Run the tool and leave nox with exactly its exit code (0 clean, 1 findings or changes, 2 bad input):
    nox reports every failed session as 1, which would make bad input look like findings."""
    _install(session)
    try:
        session.run("python", "-m", "gitops", command, *session.posargs, env=ENV)
    except nox.command.CommandFailed as exc:
        raise SystemExit(exc.return_code or 2) from None


@nox.session
def render(session: nox.Session) -> None:
    """Write clusters/<name>/ and bootstrap/ from the overlays and the inventory."""
    _gitops(session, "render")


@nox.session
def validate(session: nox.Session) -> None:
    """Build every overlay and check schemas, staleness and every policy (options after --)."""
    _gitops(session, "validate")


@nox.session
def merge(session: nox.Session) -> None:
    """Merge the partial results of `validate --shard K/N` and report (`-- PARTIAL... --format github`)."""
    _gitops(session, "merge")


@nox.session
def diff(session: nox.Session) -> None:
    """What each cluster receives and what the call graph becomes, base vs working tree (`-- --base REF`)."""
    _gitops(session, "diff")


@nox.session
def e2e(session: nox.Session) -> None:
    """Apply every cluster folder to a throwaway etcd + kube-apiserver of its version (`-- --clusters a,b`, `--base REF`)."""
    _gitops(session, "e2e")


@nox.session
def new(session: nox.Session) -> None:
    """Scaffold a cluster, a service or a call (`-- cluster NAME ...`; the same as `gitops new`)."""
    _gitops(session, "new")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, against the real kustomize and kubeconform."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """mypy over scripts/gitops and policies (pyproject.toml [tool.mypy]); .ci/run runs it."""
    _install(session)
    session.run("python", "-m", "mypy", *session.posargs, env={**ENV, "MYPYPATH": ENV["PYTHONPATH"]})


@nox.session
def bench(session: nox.Session) -> None:
    """Validate generated fleets of 2..200 clusters; print stage timings, memory and the targets (`-- --sizes 2 10`)."""
    _install(session)
    session.run("python", str(ROOT / "scripts" / "bench.py"), *session.posargs, env=ENV)
