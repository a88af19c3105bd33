"""The helpers hostile input relies on: time and memory limits, atomic writes, all-or-nothing trees,
isolated policies, and exit 2 (never a traceback) for anything unexpected; and nox keeping the tool's code."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, run_nox
from gitops.run import context
from gitops.run.stages import build
from gitops import cli
from gitops.infra import fsio, proc
from gitops.run import pipeline
from gitops.model.errors import ToolError, UsageError
from gitops.model.findings import Severity
from gitops.model.rules import Policy, Violation


def test_run_stops_a_process_past_its_timeout() -> None:
    with pytest.raises(ToolError, match="sleeper did not finish within 0.2 s and was stopped"):
        proc.run(["sleep", "30"], what="sleeper", timeout=0.2)


def test_started_process_has_a_deadline(tmp_path: Path) -> None:
    with open(tmp_path / "out", "w") as sink:
        started = proc.start(["sleep", "30"], what="background sleeper", timeout=0.2, stdout=sink)
    with pytest.raises(ToolError, match="background sleeper did not finish within 0.2 s"):
        started.wait()
    assert started.popen.poll() is not None


def test_pipe_to_file_keeps_a_talkative_process_from_stalling(tmp_path: Path) -> None:
    # 200 kB of messages: more than a pipe holds, so a stderr pipe read only at exit would stall the
    # process until its deadline, and the call would fail as a time-out.
    talk = "import sys; sys.stderr.write('x' * 200_000); sys.stdout.write('done')"
    done = proc.pipe_to_file([sys.executable, "-c", talk], tmp_path / "out", what="talker", timeout=20,
                             max_bytes=100)
    assert done.returncode == 0 and (tmp_path / "out").read_text() == "done"
    assert done.stderr == "x" * 200_000


def test_memory_ceiling_applies_to_the_child() -> None:
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    done = proc.run([sys.executable, "-c", code], what="python", timeout=30, memory_mib=512)
    assert int(done.stdout) == 512 * 1024 * 1024


def test_kustomize_over_its_memory_ceiling_is_a_clear_error(repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GITOPS_KUSTOMIZE_MEMORY_MIB", "100")  # too little for Go to start: as if a manifest blew up
    assert cli.main(["--root", str(repo), "validate", "--no-cache"]) == 2  # a cached build would not run kustomize
    err = capsys.readouterr().err
    assert "kustomize ran out of memory (its ceiling is 100 MiB" in err, err
    # kbuild, one process for every overlay, stops too; the CLI then names the overlay. A line each.
    warning, error = err.splitlines()
    assert warning.startswith("warning: kbuild stopped after 0 of 2 builds (exit ") and "kustomize CLI" in warning
    assert "runtime stack" not in err and "goroutine" not in err and error.startswith("error: ")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_write_atomic_mode_follows_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        fsio.write_atomic(tmp_path / "report.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "report.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_write_atomic_leaves_nothing_on_failure(tmp_path: Path, monkeypatch) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsio.os, "replace", fail)
    with pytest.raises(UsageError, match="No space left on device"):
        fsio.write_atomic(tmp_path / "report.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_replace_trees_failure_keeps_the_old_trees(tmp_path: Path, monkeypatch) -> None:
    for top in ("clusters", "bootstrap"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "old.yaml").write_text("old\n")
    real_rename, calls = os.rename, []

    def rename(src: object, dst: object) -> None:
        calls.append(dst)
        if str(dst) == str(tmp_path / "bootstrap") and "/new/" in str(src):  # the second tree's swap fails
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(fsio.os, "rename", rename)
    with pytest.raises(UsageError, match="the old trees are unchanged"):
        fsio.replace_trees(tmp_path, {"clusters": {"a/new.yaml": "new\n"}, "bootstrap": {"b.yaml": "new\n"}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bootstrap", "clusters"]
    for top in ("clusters", "bootstrap"):
        assert [p.name for p in (tmp_path / top).iterdir()] == ["old.yaml"]
    assert str(tmp_path / "bootstrap") in map(str, calls)


def test_replace_trees_refuses_paths_out_of_the_tree(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="outside clusters/"):
        fsio.replace_trees(tmp_path, {"clusters": {"../../pwned.yaml": "x"}})
    assert list(tmp_path.iterdir()) == []


def test_unexpected_error_is_one_line_and_exit_2(repo: Path, capsys, monkeypatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(pipeline, "execute", boom)  # the one sequencer every command runs
    assert cli.main(["--root", str(repo), "validate"]) == 2
    err = capsys.readouterr().err
    assert err == "error: validate failed unexpectedly: RuntimeError: boom (run with --debug for the traceback)\n"
    assert cli.main(["--root", str(repo), "validate", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err


def _odd_check(fleet):  # a policy with a bug: it assumes every Service port is a mapping
    for svc in fleet.of_kind("Service"):
        for port in svc.body["spec"]["ports"]:
            if port.get("port") == 8080:
                yield Violation(svc, f"{svc.name} uses 8080", ("spec", "ports"))


ODD = Policy("odd-port", Severity.WARNING, "s", "r", "f", _odd_check)


def test_a_crashing_policy_is_a_finding_and_the_others_still_run(repo: Path) -> None:
    from conftest import edit
    from policies import REGISTRY

    edit(repo, "base/caller/service.yaml", "    - name: http\n      protocol: TCP\n      port: 8080\n      targetPort: http\n",
         '    - "9090"\n')
    result = pipeline.validate(repo, (ODD, *REGISTRY), context.Options())
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    crash = [f for f in by_rule["odd-port"] if f.severity is Severity.ERROR]
    assert [f.message.split(":")[0] for f in crash] == \
        ["odd-port could not check Service istio-apps/sample-caller in cluster cluster-1"]
    assert crash[0].location is not None and crash[0].location.path == "base/caller/service.yaml"
    # the same policy still checked the other Service (the producer's port 8080), and other rules ran
    assert [f.message for f in by_rule["odd-port"] if f.severity is Severity.WARNING] == ["sample-producer uses 8080"]
    assert "schema" in by_rule


@pytest.mark.slow
def test_nox_sessions_exit_with_the_tools_code() -> None:
    # The noxfile reuses the session's virtualenv (reuse_existing_virtualenvs), so after the first run this is quick.
    done = run_nox("-s", "validate", "--", "--format", "nope")
    assert done.returncode == 2, done.stdout
    assert "invalid choice: 'nope'" in done.stdout


@pytest.mark.slow
def test_nox_keeps_every_sessions_exit_code() -> None:
    """Not only the tool's: pytest's 5 (no test selected) stays 5 through `nox -s tests`, not nox's 1."""
    done = run_nox("-s", "tests", "--", "tests/acceptance/test_errors.py", "-q", "-k", "no_such_test", "-p", "no:cacheprovider")
    assert done.returncode == 5, done.stdout
    assert "deselected" in done.stdout


def test_failed_crd_materialisation_leaves_no_debris(repo: Path, tmp_path: Path, monkeypatch) -> None:
    from gitops.infra import crds

    calls = []

    def fetch(crd, *args: object) -> bytes:
        calls.append(crd.name)
        if len(calls) == 2:  # the second CRD cannot be fetched
            raise ToolError(f"cannot fetch {crd.name}")
        return crds.fetch.__wrapped__(crd, *args)  # type: ignore[attr-defined]

    fetch.__wrapped__ = crds.fetch  # type: ignore[attr-defined]
    monkeypatch.setattr(crds, "fetch", fetch)
    cache = tmp_path / "cache"
    with pytest.raises(ToolError, match="cannot fetch"):
        crds.materialize(repo, cache, str(PROJECT.parent / "shared" / "crds"))
    assert len(calls) == 2
    assert [p.name for p in (cache / "schemas").iterdir()] == []
