"""The CI workflow: actionlint (pinned, built like the other Go tools) and the conventions it keeps."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT
from gitops import crds, owned, proc, tools

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.y*ml"))
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(.*)$")


def _actionlint(*files: Path) -> str:
    binary = tools.ensure(tools.ACTIONLINT, PROJECT)
    done = proc.run([str(binary), "-no-color", *map(str, files)], what="actionlint", timeout=120, cwd=PROJECT)
    return done.stdout + done.stderr if done.returncode else ""


def test_actionlint_is_clean() -> None:
    assert WORKFLOWS
    assert _actionlint(*WORKFLOWS) == ""


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The lint really runs: an unknown expression context is reported."""
    bad = tmp_path / ".github" / "workflows" / "bad.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nosuchthing.x }}\n")
    assert "nosuchthing" in _actionlint(bad)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_with_their_version(workflow: Path) -> None:
    uses = [m for line in workflow.read_text().splitlines() if (m := _USES.match(line))]
    assert uses
    for m in uses:
        action, ref, comment = m.groups()
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action}@{ref} is not pinned by commit SHA"
        assert re.fullmatch(r"\s+#\s+v\d+\.\d+\.\d+", comment), f"{action}@{ref} lacks its '# vX.Y.Z' comment"


def test_superseded_runs_are_cancelled_and_tests_always_run() -> None:
    flow = yaml.safe_load((PROJECT / ".github/workflows/validate.yaml").read_text())
    assert flow["concurrency"]["cancel-in-progress"]
    assert "github.event.pull_request.number" in flow["concurrency"]["group"]
    tests = [s for s in flow["jobs"]["validate"]["steps"] if s.get("run") == "nox -s tests"]
    assert [s.get("if") for s in tests] == ["always()"]


def test_pr_comment_only_with_a_writable_token() -> None:
    steps = yaml.safe_load((PROJECT / ".github/workflows/validate.yaml").read_text())["jobs"]["diff"]["steps"]
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    notice = next(s for s in steps if "::notice" in s.get("run", ""))
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository && " \
                            "github.actor != 'dependabot[bot]'"
    assert notice["if"] == "github.event.pull_request.head.repo.full_name != github.repository || " \
                           "github.actor == 'dependabot[bot]'"


def test_ci_passes_its_crd_mirror_through_the_environment() -> None:
    """The lock file names no CI-only path; .ci/run hands CI's mirror over in GITOPS_CRD_MIRROR."""
    assert crds.load_lock(PROJECT).mirror is None
    assert "../shared" not in (PROJECT / "crds.lock.yaml").read_text()
    run = (PROJECT / ".ci" / "run").read_text()
    assert 'GITOPS_CRD_MIRROR="$(cd ../shared/crds && pwd)"' in run and "export GITOPS_CRD_MIRROR" in run


def _cache_steps(flow: dict) -> list[tuple[str, int, dict]]:
    return [(job, i, step) for job, spec in flow["jobs"].items() for i, step in enumerate(spec["steps"])
            if step.get("uses", "").startswith("actions/cache")]


def test_caches_are_restored_everywhere_and_saved_only_from_main() -> None:
    """Nothing a pull request's run wrote reaches a later run (docs/cache-and-shards.md): every cache step is a
    restore, except saves that run only on pushes (to main, the only branch pushes run for), right after validate
    and before the tests run the branch's own code. The cached paths are the tools folder and the cache folder
    outside the checkout (never .cache/ of the checkout), keyed on everything that changes their content."""
    flow = yaml.safe_load((PROJECT / ".github/workflows/validate.yaml").read_text())
    assert flow[True]["push"] == {"branches": ["main"]}  # PyYAML reads the key `on` as True
    steps = _cache_steps(flow)
    assert {step["uses"].split("@")[0] for _, _, step in steps} == {"actions/cache/restore", "actions/cache/save"}
    assert len({step["uses"].split("@")[1] for _, _, step in steps}) == 1  # one pinned release for all
    cache_base = owned.default_cache(PROJECT).parent  # ~/.cache/gitops-mcs, one folder per repository inside
    assert cache_base == Path.home() / ".cache" / "gitops-mcs" or "XDG_CACHE_HOME" in os.environ
    for job, index, step in steps:
        assert step["with"]["path"] in (".tools", "~/.cache/gitops-mcs"), step
        assert "tools/kbuild/**" in step["with"]["key"]
        if step["with"]["path"] == "~/.cache/gitops-mcs":
            assert step["with"]["key"].endswith("-${{ github.sha }}")
            assert all(f"'{f}'" in step["with"]["key"] for f in ("scripts/gitops/**", "crds.lock.yaml"))
        if step["uses"].startswith("actions/cache/save"):
            assert job == "validate" and step["if"].startswith("always() && github.event_name == 'push'"), step
            names = [s.get("run", "") for s in flow["jobs"][job]["steps"]]
            validate = next(i for i, run in enumerate(names) if "nox -s validate" in run)
            tests = next(i for i, run in enumerate(names) if "nox -s tests" in run)
            assert validate < index < tests
    saved = {step["with"]["path"] for _, _, step in steps if step["uses"].startswith("actions/cache/save")}
    assert saved == {".tools", "~/.cache/gitops-mcs"}


def _validate_argv(env: dict[str, str]) -> list[str]:
    """The arguments the workflow's validate step hands to `nox -s validate --`, as bash expands them."""
    steps = yaml.safe_load((PROJECT / ".github/workflows/validate.yaml").read_text())["jobs"]["validate"]["steps"]
    [run] = [s["run"] for s in steps if "nox -s validate" in s.get("run", "")]
    assert run.startswith("nox -s validate -- ")
    script = "printf '%s\\n' " + run.removeprefix("nox -s validate -- ")
    done = proc.run(["bash", "-c", script], what="bash", timeout=30, env={"PATH": "/usr/bin:/bin", **env})
    return done.stdout.splitlines()


def test_validate_compares_the_rules_with_the_pull_requests_base() -> None:
    """A pull request's rule changes are listed against its base branch (the checkout has its history);
    a push to main has no GITHUB_BASE_REF and takes validate's default base."""
    steps = yaml.safe_load((PROJECT / ".github/workflows/validate.yaml").read_text())["jobs"]["validate"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert _validate_argv({"GITHUB_BASE_REF": "main"})[-2:] == ["--base", "origin/main"]
    assert _validate_argv({"GITHUB_BASE_REF": "release 1"})[-2:] == ["--base", "origin/release 1"]
    assert "--base" not in _validate_argv({})

