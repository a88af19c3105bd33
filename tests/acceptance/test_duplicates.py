"""duplicate-object through validate, render and diff: a finding with both sources' lines, never bad input.

Render refuses to write while a duplicate remains and exits 1, like validate with an error finding
(the repository's content is wrong, not unreadable); it names both sources and writes nothing.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import edit, snippet_line
from gitops.run import context
from gitops import cli
from gitops.diff import compare as diff
from gitops.run import pipeline, ruleconfig
from policies import REGISTRY

C2_KUST = "overlays/cluster-2/kustomization.yaml"
GKE = "components/export-gke/serviceexport.yaml"
UPSTREAM = "components/export-mcs-api/serviceexport.yaml"
GIT = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def _duplicate(root: Path) -> None:
    """Both export components in cluster-2: two ServiceExports istio-apps/sample-producer."""
    edit(root, C2_KUST, "  - ../../components/export-gke\n",
         "  - ../../components/export-gke\n  - ../../components/export-mcs-api\n")


def _lines(root: Path) -> set[tuple[str, int]]:
    return {(GKE, snippet_line(root, GKE, "name: sample-producer")),
            (UPSTREAM, snippet_line(root, UPSTREAM, "name: sample-producer"))}


def test_validate_reports_both_sources(repo: Path, capsys) -> None:
    _duplicate(repo)
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    findings = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "duplicate-object"]
    assert len(findings) == 1
    [f] = findings
    here = (f["location"]["path"], f["location"]["line"])
    there = {(r["path"], r["line"]) for r in f["related"]}
    assert {here} | there == _lines(repo)


def test_render_refuses_and_says_why(repo: Path, capsys) -> None:
    _duplicate(repo)
    assert cli.main(["--root", str(repo), "render"]) == 1
    err = capsys.readouterr().err
    assert "ServiceExport istio-apps/sample-producer is declared twice in cluster cluster-2" in err
    for path, line in _lines(repo):
        assert f"{path}:{line}:" in err
    assert "render wrote nothing" in err
    assert not (repo / "clusters").exists() and not (repo / "bootstrap").exists()


def test_diff_reports_the_duplicate_as_introduced(repo: Path) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "sources"]):
        subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True)
    _duplicate(repo)
    result = diff.run(context.Run(repo, context.Options(), REGISTRY), ruleconfig.Config(REGISTRY), "main")
    [f] = [f for f in result.introduced if f.rule == "duplicate-object"]
    assert f.location is not None
    assert {(f.location.path, f.location.line)} | {(r.location.path, r.location.line) for r in f.related} == \
        _lines(repo)
