"""Issue 23, waves: a cluster's `wave:` orders the rollout (an ApplicationSet RollingSync step per wave, per-wave
revisions), checked against the locked CRDs, and the diff comment lists the waves in order."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import cluster_entry, edit
from gitops import cli

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")
MORE = cluster_entry("cluster-3", "europe-west1", "    wave: 2\n") + cluster_entry(
    "cluster-4", "europe-west4", "    wave: 3\n    labels: {env: prod}\n")


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def _three_waves(root: Path, revisions: str = "") -> None:
    edit(root, "inventory.yaml", "  revision: main\n", "  revision: main\n" + revisions)
    edit(root, "inventory.yaml", "  project: mcs-fleet\n", "  project: mcs-fleet\n  maxUpdate: {2: 50%}\n")
    edit(root, "inventory.yaml", "    overlay: overlays/cluster-1\n", "    overlay: overlays/cluster-1\n    wave: 1\n")
    edit(root, "inventory.yaml", "    overlay: overlays/cluster-2\n", "    overlay: overlays/cluster-2\n    wave: 2\n")
    with (root / "inventory.yaml").open("a") as f:
        f.write(MORE)


def _appset(root: Path) -> dict:
    return yaml.safe_load((root / "bootstrap/argocd/applicationset-cluster-folders.yaml").read_text())


def test_three_waves_render_a_three_step_rolling_sync(repo: Path, capsys) -> None:
    _three_waves(repo, "  revisions: {1: canary, 2: wave-2}\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    spec = _appset(repo)["spec"]
    steps = spec["strategy"]["rollingSync"]["steps"]
    assert spec["strategy"]["type"] == "RollingSync"
    assert [s["matchExpressions"] for s in steps] == [
        [{"key": "gitops/wave", "operator": "In", "values": [w]}] for w in ("1", "2", "3")]
    assert [s.get("maxUpdate") for s in steps] == [None, "50%", None]
    elements = {e["cluster"]: e for e in spec["generators"][0]["list"]["elements"]}
    assert {c: (e["revision"], e["labels"]) for c, e in elements.items()} == {
        "cluster-1": ("canary", {"gitops/wave": "1"}), "cluster-3": ("wave-2", {"gitops/wave": "2"}),
        "cluster-4": ("main", {"env": "prod", "gitops/wave": "3"})}
    assert spec["template"]["spec"]["source"]["targetRevision"] == "{{.revision}}"
    assert "labels: {{ toJson .labels }}" in spec["templatePatch"]
    rootsync = yaml.safe_load((repo / "bootstrap/config-sync/cluster-2/rootsync-gitops-mcs.yaml").read_text())
    assert rootsync["spec"]["git"]["revision"] == "wave-2"
    capsys.readouterr()
    # The real schema stage checks the ApplicationSet against the locked Argo CD CRD: clean.
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 0, capsys.readouterr().out


def test_clusters_without_a_wave_sync_last(repo: Path) -> None:
    edit(repo, "inventory.yaml", "    overlay: overlays/cluster-1\n", "    overlay: overlays/cluster-1\n    wave: 1\n")
    with (repo / "inventory.yaml").open("a") as f:
        f.write(cluster_entry("cluster-3", "europe-west1"))  # with no wave
    assert cli.main(["--root", str(repo), "render"]) == 0
    steps = _appset(repo)["spec"]["strategy"]["rollingSync"]["steps"]
    assert [s["matchExpressions"][0]["operator"] for s in steps] == ["In", "NotIn"]
    assert cli.main(["--root", str(repo), "validate"]) == 0


def test_no_wave_no_strategy(repo: Path) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    spec = _appset(repo)["spec"]
    assert "strategy" not in spec and "templatePatch" not in spec


@pytest.mark.parametrize(("revisions", "first"), [
    ("", "3 waves; this change reaches wave 2 first"),
    ("  revisions: {2: wave-2}\n", "3 waves; this change reaches wave 3 first"),
], ids=["one-revision", "per-wave-revision"])
def test_the_diff_lists_the_waves_in_order(repo: Path, capsys, revisions: str, first: str) -> None:
    _three_waves(repo, revisions)
    assert cli.main(["--root", str(repo), "render"]) == 0
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    edit(repo, "base/producer/deployment.yaml", "cpu: 100m", "cpu: 120m")
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "diff", "--base", "main"]) == 1  # 1: some cluster receives a change
    out = capsys.readouterr().out
    promoted = "; it follows revision wave-2: the change reaches it when promoted there" if revisions else ""
    assert (f"rollout: {first}\n  wave 1: no change in its 1 cluster\n"
            f"  wave 2: 2 of 2 clusters change (cluster-2, cluster-3){promoted}\n"
            "  wave 3: 1 of 1 cluster change (cluster-4)\n") in out
    assert cli.main(["--root", str(repo), "diff", "--base", "main", "--format", "json"]) == 1
    waves = json.loads(capsys.readouterr().out)["waves"]
    assert [(w["wave"], w["changed"]) for w in waves] == [(1, []), (2, ["cluster-2", "cluster-3"]), (3, ["cluster-4"])]


@pytest.mark.slow
def test_e2e_applies_the_rolling_sync_and_the_roles(repo: Path, capsys) -> None:
    """The 3-wave ApplicationSet and AppProject (in Argo CD's cluster) and cluster-2's RootSync and derived
    ClusterRoles reach real API servers: dry-run, apply, and a second apply that changes nothing."""
    _three_waves(repo, "  revisions: {2: wave-2}\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "e2e", "--format", "json", "--clusters", "cluster-1,cluster-2"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert json.loads(captured.out)["findings"] == []
    # cluster-1: its folder and the two Argo CD objects; cluster-2: its 5 objects, the RootSync and 2 ClusterRoles.
    assert "e2e: cluster-1: 9 objects, 0 finding(s)" in captured.err
    assert "e2e: cluster-2: 8 objects, 0 finding(s)" in captured.err
