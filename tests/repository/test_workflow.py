"""The CI workflow: actionlint (pinned, built like the other Go tools), zizmor's offline security audits
(pinned in requirements.txt) and the conventions it keeps."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from conftest import PROJECT
from gitops.infra import crds, owned, proc, tools

WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.y*ml"))
VALIDATE = PROJECT / ".github" / "workflows" / "validate.yaml"
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(.*)$")


def _flow() -> dict:
    return yaml.safe_load(VALIDATE.read_text())


def _strings(node: Any) -> Iterator[str]:
    """Every string value of a parsed workflow (conditions, scripts, inputs, keys)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


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
    flow = _flow()
    assert flow["concurrency"]["cancel-in-progress"]
    assert "github.event.pull_request.number" in flow["concurrency"]["group"]
    tests = [s for s in flow["jobs"]["validate"]["steps"] if s.get("run") == "nox -s tests"]
    assert [s.get("if") for s in tests] == ["always()"]


def test_pr_comment_only_with_a_writable_token() -> None:
    """Dependabot is told by the pull request's author: `github.actor` is whoever triggered the run (a
    re-run, a push to a Dependabot branch), so it can say "dependabot[bot]" on a run with another token."""
    steps = _flow()["jobs"]["diff"]["steps"]
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    notice = next(s for s in steps if "::notice" in s.get("run", ""))
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository && " \
                            "github.event.pull_request.user.login != 'dependabot[bot]'"
    assert notice["if"] == "github.event.pull_request.head.repo.full_name != github.repository || " \
                           "github.event.pull_request.user.login == 'dependabot[bot]'"
    upload = next(s for s in _flow()["jobs"]["validate"]["steps"] if "upload-sarif" in s.get("uses", ""))
    assert "github.event.pull_request.user.login != 'dependabot[bot]'" in upload["if"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_decision_rests_on_the_spoofable_actor(workflow: Path) -> None:
    """zizmor's bot-conditions, as a rule of this repository: no condition, script or input reads
    github.actor or github.triggering_actor, and every condition that names a bot reads the pull request's
    author."""
    flow = yaml.safe_load(workflow.read_text())
    used = [s for s in _strings(flow) if re.search(r"\bgithub\.(triggering_)?actor\b", s)]
    assert used == []
    conditions = [str(c) for job in flow["jobs"].values() for c in [job.get("if"), *(s.get("if") for s in
                  job.get("steps", []))] if c is not None]
    mentions = [m for c in conditions for m in re.findall(r"(\S+)\s*[!=]=\s*'[\w-]+\[bot\]'", c)]
    assert mentions and set(mentions) == {"github.event.pull_request.user.login"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_credentials(workflow: Path) -> None:
    """The pull request's code runs after every checkout: the token must not stay in .git/config
    (zizmor's artipacked)."""
    flow = yaml.safe_load(workflow.read_text())
    checkouts = [s for job in flow["jobs"].values() for s in job.get("steps", [])
                 if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    assert all(s.get("with", {}).get("persist-credentials") is False for s in checkouts), checkouts


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_time_limit_and_its_own_permissions(workflow: Path) -> None:
    """A hung job ends within CI's own budget (90 min), not GitHub's default of 6 hours; the workflow's default
    token is read-only and each job asks for what it needs (zizmor's excessive-permissions; its
    undocumented-permissions, run below, wants a comment on each grant beyond reading)."""
    flow = yaml.safe_load(workflow.read_text())
    assert flow["permissions"] == {"contents": "read"}
    for name, job in flow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 90, name
        assert job.get("permissions", {}).get("contents") == "read", name


def test_sarif_upload_has_the_permissions_it_needs() -> None:
    """upload-sarif writes security events and, on private repositories, reads the run's actions."""
    for name, job in _flow()["jobs"].items():
        uploads = any("upload-sarif" in s.get("uses", "") for s in job["steps"])
        assert (job["permissions"].get("security-events") == "write") == uploads, name
        if uploads:
            assert job["permissions"].get("actions") == "read"


def test_merge_queue_groups_are_checked_and_never_cancelled() -> None:
    """A merge queue's group runs the checks (merge_group); only a pull request's superseded runs are cancelled
    (the concurrency group falls back to github.ref, which is unique per group); a group validates its rule
    changes against the commit it merges onto, saves no cache and posts no comment."""
    flow = _flow()
    assert "merge_group" in flow[True]
    assert flow["concurrency"]["group"] == "${{ github.workflow }}-${{ github.event.pull_request.number || " \
                                          "github.ref }}"
    assert flow["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert _validate_argv({"MERGE_GROUP_BASE": "0123abc"})[-2:] == ["--base", "0123abc"]
    [step] = [s for s in flow["jobs"]["validate"]["steps"] if "nox -s validate" in s.get("run", "")]
    assert step["env"] == {"MERGE_GROUP_BASE": "${{ github.event.merge_group.base_sha }}"}
    assert flow["jobs"]["diff"]["if"] == "github.event_name == 'pull_request'"


def test_ci_passes_its_crd_mirror_through_the_environment() -> None:
    """The lock file names no CI-only path; .ci/run hands CI's mirror over in GITOPS_CRD_MIRROR."""
    assert crds.load_lock(PROJECT).mirror is None
    assert "../shared" not in (PROJECT / "crds.lock.yaml").read_text()
    run = (PROJECT / ".ci" / "run").read_text()
    assert 'GITOPS_CRD_MIRROR="$(cd ../shared/crds && pwd)"' in run and "export GITOPS_CRD_MIRROR" in run


def _cache_steps(flow: dict) -> list[tuple[str, int, dict]]:
    return [(job, i, step) for job, spec in flow["jobs"].items() for i, step in enumerate(spec["steps"])
            if step.get("uses", "").startswith("actions/cache")]


GO_CACHE = "~/.cache/go-build\n~/go/pkg/mod\n"  # the Go build and module caches (`go env GOCACHE GOMODCACHE`)


def test_caches_are_restored_everywhere_and_saved_only_from_main() -> None:
    """Nothing a pull request's (or a merge group's) run wrote reaches a later run (docs/cache-and-shards.md):
    every cache step is a restore, except saves that run only on pushes (to main, the only branch pushes run
    for), after validate and `nox -s tools` built everything the tests use, and before the tests run the
    branch's own code. The cached paths are the tools folder, the Go build and module caches, and the cache
    folder outside the checkout (never .cache/ of the checkout), keyed on everything that changes their
    content; every job restores the same caches as the validate job; setup-go's own cache (which saves on pull
    requests too) is off."""
    flow = _flow()
    assert flow[True]["push"] == {"branches": ["main"]}  # PyYAML reads the key `on` as True
    steps = _cache_steps(flow)
    assert {step["uses"].split("@")[0] for _, _, step in steps} == {"actions/cache/restore", "actions/cache/save"}
    assert len({step["uses"].split("@")[1] for _, _, step in steps}) == 1  # one pinned release for all
    cache_base = owned.default_cache(PROJECT).parent  # ~/.cache/gitops-mcs, one folder per repository inside
    assert cache_base == Path.home() / ".cache" / "gitops-mcs" or "XDG_CACHE_HOME" in os.environ
    for job, index, step in steps:
        path, key = step["with"]["path"], step["with"]["key"]
        assert path in (".tools", "~/.cache/gitops-mcs", GO_CACHE), step
        if path == ".tools":  # every Go module under tools/ (kbuild, the control planes) and the go-install pins
            assert all(f"'{f}'" in key for f in ("tools/**", "scripts/gitops/infra/tools.py"))
        if path == GO_CACHE:
            assert all(f"'{f}'" in key for f in ("tools/**/go.sum", "scripts/gitops/infra/tools.py"))
        if path == "~/.cache/gitops-mcs":
            assert key.endswith("-${{ github.sha }}")
            assert all(f"'{f}'" in key for f in ("scripts/gitops/**", "tools/kbuild/**", "crds.lock.yaml"))
        if step["uses"].startswith("actions/cache/save"):
            assert job == "validate" and step["if"].startswith("always() && github.event_name == 'push'"), step
            names = [s.get("run", "") for s in flow["jobs"][job]["steps"]]
            validate = next(i for i, run in enumerate(names) if "nox -s validate" in run)
            built = names.index("nox -s tools")
            tests = next(i for i, run in enumerate(names) if "nox -s tests" in run)
            assert validate < built < index < tests
    saved = {step["with"]["path"] for _, _, step in steps if step["uses"].startswith("actions/cache/save")}
    assert saved == {".tools", "~/.cache/gitops-mcs", GO_CACHE}
    restored = {job: {(s["with"]["path"], s["with"]["key"], s["with"].get("restore-keys")) for j, _, s in steps
                      if j == job and s["uses"].startswith("actions/cache/restore")} for job in flow["jobs"]}
    assert all(r == restored["validate"] for r in restored.values()), restored
    assert {path for path, _, _ in restored["validate"]} == saved
    setup_go = [s for job in flow["jobs"].values() for s in job["steps"] if "actions/setup-go" in s.get("uses", "")]
    assert setup_go and all(s["with"]["cache"] is False for s in setup_go)


def test_tools_are_built_before_the_caches_are_saved() -> None:
    """`nox -s tools` builds every pinned tool (actionlint, kube-apiserver and etcd too), so the saved tools
    folder and Go build cache hold what the tests would otherwise build from scratch on every run."""
    [step] = [s for s in _flow()["jobs"]["validate"]["steps"] if s.get("run") == "nox -s tools"]
    assert step["if"] == "always()"


def _validate_argv(env: dict[str, str]) -> list[str]:
    """The arguments the workflow's validate step hands to `nox -s validate --`, as bash expands them."""
    [run] = [s["run"] for s in _flow()["jobs"]["validate"]["steps"] if "nox -s validate" in s.get("run", "")]
    assert run.startswith("nox -s validate -- ")
    script = "printf '%s\\n' " + run.removeprefix("nox -s validate -- ")
    done = proc.run(["bash", "-c", script], what="bash", timeout=30, env={"PATH": "/usr/bin:/bin", **env})
    return done.stdout.splitlines()


def test_validate_compares_the_rules_with_the_pull_requests_base() -> None:
    """A pull request's rule changes are listed against its base branch (the checkout has its history);
    a push to main has no GITHUB_BASE_REF and takes validate's default base."""
    steps = _flow()["jobs"]["validate"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert _validate_argv({"GITHUB_BASE_REF": "main"})[-2:] == ["--base", "origin/main"]
    assert _validate_argv({"GITHUB_BASE_REF": "release 1"})[-2:] == ["--base", "origin/release 1"]
    assert "--base" not in _validate_argv({})



# --- zizmor: its offline audits over the workflows --------------------------------------------------------

def _zizmor(folder: Path) -> list[dict]:
    """zizmor's findings (JSON) over `folder`: offline (no GitHub API, no token), every persona's audits
    (auditor: also the pedantic ones), no configuration and no inline ignore honoured, so an exception can
    only be made here, where a reviewer sees it."""
    binary = Path(sys.executable).parent / "zizmor"
    assert binary.is_file(), "zizmor is pinned in requirements.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    done = subprocess.run([str(binary), "--offline", "--no-config", "--no-ignores", "--persona", "auditor",
                           "--format", "json", "--no-progress", str(folder)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode in (0, 11, 12, 13, 14), done.stderr  # 0 or 10 + the worst severity found
    return json.loads(done.stdout)


def test_zizmor_finds_nothing() -> None:
    findings = _zizmor(PROJECT / ".github" / "workflows")
    assert [(f["ident"], f["locations"][0]["concrete"]["location"]["start_point"]["row"] + 1, f["desc"])
            for f in findings] == []


BAD_WORKFLOWS = {  # one zizmor audit each, with the workflow that must trip it
    "artipacked": "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                  "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1\n",
    "unpinned-uses": "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                     "      - uses: actions/setup-go@v7\n",
    "template-injection": "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                          "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n",
    "bot-conditions": "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - if: github.actor == 'dependabot[bot]'\n        run: echo bot\n",
    "excessive-permissions": "on: pull_request\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                             "    steps:\n      - run: echo hi\n",
    "undocumented-permissions": "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                                "    permissions:\n      pull-requests: write\n    steps:\n      - run: echo hi\n",
    "dangerous-triggers": "on: pull_request_target\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                          "    steps:\n      - run: echo hi\n",
    "cache-poisoning": "on:\n  push:\n    tags: ['v*']\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                       "    steps:\n      - uses: actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e  # v7.0.0\n",
}


@pytest.mark.parametrize("audit", sorted(BAD_WORKFLOWS))
def test_zizmor_catches_a_broken_workflow(audit: str, tmp_path: Path) -> None:
    """The audits really run offline: each of these workflows trips the audit it is named after."""
    bad = tmp_path / ".github" / "workflows" / f"{audit}.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOWS[audit])
    assert audit in {f["ident"] for f in _zizmor(bad.parent)}


def test_nox_is_pinned_once() -> None:
    """The nox the README, .ci/run, CI and the pre-commit setup install is the one the tests run (requirements.txt)."""
    files = ["README.md", ".ci/run", ".pre-commit-config.yaml", "requirements.txt",
             *(str(w.relative_to(PROJECT)) for w in WORKFLOWS)]
    pins = {f: set(re.findall(r"\bnox==([\w.]+)", (PROJECT / f).read_text())) for f in files}
    assert all(pins.values()) and len(set().union(*pins.values())) == 1, pins
