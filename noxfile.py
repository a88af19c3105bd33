"""Entry points: `nox -s render`, `nox -s validate`, `nox -s tests` (and lint, diff, e2e, sync, tools, bench).

Each session installs the pinned Python dependencies into its virtualenv once, and again only when
requirements.txt changes (a stamp inside the virtualenv records what was installed: a warm session,
a pre-commit hook, starts without pip). The Go tools (kustomize, kubeconform, kbuild) are built by
the tooling itself into .tools/bin on first use, or all at once by `nox -s tools`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

import nox
import nox.command
import nox.logger
import nox.virtualenv

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "scripts"))
from heartbeat import heartbeat  # noqa: E402 - standard library only, shared with scripts/build_tools.py
REQUIREMENTS = ROOT / "requirements.txt"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["validate", "tests"]
nox.options.error_on_missing_interpreters = True

ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), str(ROOT)])}
INSTALL = ("-q", "-r", str(REQUIREMENTS))
STAMP = ".gitops-requirements"  # in the virtualenv: the digest of what _install last installed there
_WRITE_STAMP = ("import pathlib, sys; from gitops.infra.fsio import write_atomic; "
                "write_atomic(pathlib.Path(sys.argv[1]), sys.argv[2])")


def _install(session: nox.Session) -> None:
    """pip-install the pinned requirements unless this virtualenv already holds exactly them: pip alone takes
    seconds even when everything is installed, and pre-commit starts two sessions per commit. The stamp is
    written after pip succeeded (through fsio, atomically); a new virtualenv (`nox -r`, a fresh clone) has
    none, and a changed requirements.txt or install command changes the digest, so both install."""
    venv = session.virtualenv
    stamp = Path(venv.location) / STAMP if isinstance(venv, nox.virtualenv.VirtualEnv) else None
    digest = hashlib.sha256("\0".join(INSTALL).encode() + b"\0" + REQUIREMENTS.read_bytes()).hexdigest()
    if stamp is not None and stamp.is_file() and stamp.read_text().strip() == digest:
        session.log(f"{REQUIREMENTS.name} already installed in {venv.location} (unchanged): pip skipped")
        return
    session.install(*INSTALL)
    if stamp is not None:
        session.run_install("python", "-c", _WRITE_STAMP, str(stamp), digest, env=ENV, silent=True,
                            log=False)


class _Answers(logging.Filter):
    """Drops nox's "Command ... failed with exit code N" where N is one of the command's answers (diff's 1:
    "some cluster changes"), which is not a failure; the session says the answer instead."""

    def __init__(self, codes: set[int]) -> None:
        super().__init__()
        self.suffixes = tuple(f" failed with exit code {code}" for code in codes)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Command ") and message.endswith(self.suffixes))


def _run(session: nox.Session, *args: str, answers: dict[int, str] | None = None, install: bool = True,
         env: dict[str, str] | None = None) -> None:
    """Install, run the command and leave nox with exactly its exit code (the tool's 0 clean, 1 findings or
    changes, 2 bad input; pytest's 5 for no tests): nox reports every failed session as 1, which would make
    bad input look like findings. An exit code in `answers` is an ordinary outcome: nox prints the answer
    ("changes found") instead of "Command ... failed"."""
    if install:
        _install(session)
    answers = answers or {}
    quiet = _Answers(set(answers))
    nox.logger.logger.addFilter(quiet)
    try:
        session.run(*args, *session.posargs, env={**ENV, **(env or {})})
    except nox.command.CommandFailed as exc:
        code = exc.return_code or 2
        if code in answers:
            session.log(f"{answers[code]} (exit code {code})")
        raise SystemExit(code) from None
    finally:
        nox.logger.logger.removeFilter(quiet)


def _gitops(session: nox.Session, command: str, answers: dict[int, str] | None = None) -> None:
    _run(session, "python", "-m", "gitops", command, answers=answers)


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
    _gitops(session, "diff", answers={1: "changes found"})


@nox.session
def e2e(session: nox.Session) -> None:
    """Apply every cluster folder to a throwaway etcd + kube-apiserver of its version (`-- --clusters a,b`, `--base REF`)."""
    _gitops(session, "e2e")


@nox.session
def sync(session: nox.Session) -> None:
    """Sync every Argo CD cluster's folder with the real Argo CD into throwaway API servers, twice (`-- --clusters a`)."""
    _gitops(session, "sync")


@nox.session
def new(session: nox.Session) -> None:
    """Scaffold a cluster, a service or a call (`-- cluster NAME ...`; the same as `gitops new`)."""
    _gitops(session, "new")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, against the real kustomize and kubeconform. The session starts by checking the locked CRDs
    (tests/conftest.py: a missing one is said before any tool is built); a line every 60 s while pytest runs, so a
    fresh clone's first run, which builds the tools inside its first tests, is never silent for long."""
    with heartbeat("tests", every=60, say="still running"):  # a test that builds a fleet or a control plane is long
        _run(session, "python", "-m", "pytest")


@nox.session
def tools(session: nox.Session) -> None:
    """Build every pinned Go tool into .tools/bin now, printing each (CI: before it saves its caches). The tool
    builder needs only the standard library: nothing is installed."""
    _run(session, "python", str(ROOT / "scripts" / "build_tools.py"), install=False)


@nox.session
def lint(session: nox.Session) -> None:
    """mypy over scripts/gitops and policies (pyproject.toml [tool.mypy]); .ci/run runs it."""
    _run(session, "python", "-m", "mypy", env={"MYPYPATH": ENV["PYTHONPATH"]})


@nox.session
def bench(session: nox.Session) -> None:
    """Validate generated fleets of 2..200 clusters; print stage timings, memory and the targets (`-- --sizes 2 10`)."""
    _run(session, "python", str(ROOT / "scripts" / "bench.py"))
