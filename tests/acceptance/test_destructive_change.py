"""Issue 23, safe by default: a pull request that removes a cluster, renames its folder or moves its destination
fails validate (and diff) until a waiver with a reason accepts it; the generated Applications never cascade."""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import cluster_entry, edit
from gitops import cli

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")
# A third cluster (Argo CD, cluster-2's overlay) that the change removes: nothing else depends on it.
CLUSTER_3 = cluster_entry("cluster-3", "europe-west1")


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def based(repo: Path, capsys) -> Path:
    """The repository with a third cluster, rendered and committed on main, then a branch `change` to edit."""
    with (repo / "inventory.yaml").open("a") as f:
        f.write(CLUSTER_3)
    assert cli.main(["--root", str(repo), "render"]) == 0
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    capsys.readouterr()
    return repo


def _validate(root: Path, capsys, *extra: str) -> tuple[int, list[dict]]:
    code = cli.main(["--root", str(root), "validate", "--format", "json", *extra])
    found = json.loads(capsys.readouterr().out)["findings"]
    return code, [f for f in found if f["rule"] == "destructive-change"]


def _waive(root: Path, cluster: str) -> None:
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    (root / "policies" / "waivers.yaml").write_text(
        f"- rule: destructive-change\n  target:\n    cluster: {cluster}\n"
        f"  reason: {cluster} is retired with TICKET-7; its workloads moved to cluster-1\n  expires: {expires}\n")


def _remove_cluster_3(root: Path, capsys) -> None:
    edit(root, "inventory.yaml", CLUSTER_3, "")
    shutil.rmtree(root / "clusters" / "cluster-3")
    assert cli.main(["--root", str(root), "render"]) == 0
    capsys.readouterr()


def test_removing_a_cluster_fails_until_waived(based: Path, capsys) -> None:
    _remove_cluster_3(based, capsys)
    code, found = _validate(based, capsys)
    assert code == 1
    assert len(found) == 1, found
    f = found[0]
    assert f["severity"] == "error" and f["cluster"] == "cluster-3"
    assert "cluster cluster-3 is removed from inventory.yaml (line 34 of merge-base(HEAD, main)" in f["message"]
    assert "with 5 objects" in f["message"]  # clusters/cluster-3/ held 5 files at the base
    assert "Argo CD keeps its Application and the objects" in f["message"]
    assert f["location"]["path"] == "inventory.yaml" and f["location"]["line"] == 14  # `clusters:`

    _waive(based, "cluster-3")
    code, found = _validate(based, capsys)
    assert code == 0, found
    assert found and all(f["waived"] for f in found)


def test_text_output_names_the_cluster_and_count(based: Path, capsys) -> None:
    _remove_cluster_3(based, capsys)
    assert cli.main(["--root", str(based), "validate"]) == 1
    out = capsys.readouterr().out
    assert "inventory.yaml:14:1: error destructive-change: cluster cluster-3 is removed" in out
    assert "5 objects (first: " in out


def test_renaming_a_cluster_folder_fails(based: Path, capsys) -> None:
    edit(based, "inventory.yaml", "  - name: cluster-2\n", "  - name: cluster-7\n")
    shutil.rmtree(based / "clusters" / "cluster-2")
    shutil.rmtree(based / "bootstrap" / "config-sync")
    assert cli.main(["--root", str(based), "render"]) == 0
    capsys.readouterr()
    code, found = _validate(based, capsys)
    assert code == 1
    assert [f["cluster"] for f in found] == ["cluster-7"]
    assert "cluster cluster-2 is renamed to cluster-7" in found[0]["message"]
    assert "clusters/cluster-2/ with 5 objects" in found[0]["message"]
    _waive(based, "cluster-7")
    assert _validate(based, capsys)[0] == 0


def test_changing_a_destination_fails(based: Path, capsys) -> None:
    edit(based, "inventory.yaml", "    sync: config-sync\n", "    sync: argocd\n")
    edit(based, "inventory.yaml", "    configSync:\n      rootSyncName: gitops-mcs\n      auth: none\n", "")
    assert cli.main(["--root", str(based), "render"]) == 0
    capsys.readouterr()
    code, found = _validate(based, capsys)
    assert code == 1
    assert len(found) == 1 and "cluster cluster-2 changes where it is synced" in found[0]["message"]
    assert "Config Sync RootSync gitops-mcs → Argo CD cluster named cluster-2" in found[0]["message"]


def test_an_ordinary_change_is_not_destructive(based: Path, capsys) -> None:
    edit(based, "inventory.yaml", "    location: us-east1\n", "    location: us-east4\n")
    code, found = _validate(based, capsys)
    assert (code, found) == (0, [])


def test_the_base_given_by_option(based: Path, capsys) -> None:
    """--base names the revision compared with; the change committed and compared with itself is no change."""
    _remove_cluster_3(based, capsys)
    _git(based, "add", "-A")
    _git(based, "commit", "-q", "-m", "retire cluster-3")
    assert _validate(based, capsys, "--base", "HEAD")[1] == []
    code, found = _validate(based, capsys, "--base", "main")
    assert code == 1 and len(found) == 1


def test_rendered_applications_never_cascade(repo: Path) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    appset = yaml.safe_load((repo / "bootstrap/argocd/applicationset-cluster-folders.yaml").read_text())
    assert appset["spec"]["syncPolicy"] == {"applicationsSync": "create-update", "preserveResourcesOnDeletion": True}
    assert "finalizers" not in appset["spec"]["template"]["metadata"]


def test_argocd_own_cluster_is_in_cluster(repo: Path) -> None:
    """Argo CD registers the cluster it runs in as in-cluster (https://kubernetes.default.svc): the cluster
    argocd.cluster names is reached by that server, the others by name, and the AppProject permits both."""
    edit(repo, "inventory.yaml", "    sync: config-sync\n", "    sync: argocd\n")
    edit(repo, "inventory.yaml", "    configSync:\n      rootSyncName: gitops-mcs\n      auth: none\n", "")
    assert cli.main(["--root", str(repo), "render"]) == 0
    appset = yaml.safe_load((repo / "bootstrap/argocd/applicationset-cluster-folders.yaml").read_text())
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert [(e["cluster"], e["destinationName"], e["destinationServer"]) for e in elements] == [
        ("cluster-1", "", "https://kubernetes.default.svc"), ("cluster-2", "cluster-2", "")]
    project = yaml.safe_load((repo / "bootstrap/argocd/appproject-mcs-fleet.yaml").read_text())
    assert project["spec"]["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "*"},
                                               {"name": "cluster-2", "namespace": "*"}]
    assert cli.main(["--root", str(repo), "validate"]) == 0


def test_pruning_more_than_the_threshold_fails(based: Path, capsys) -> None:
    """Dropping the export prunes 1 of cluster-2's 5 objects (20%): under the default 50% that is an ordinary
    change; with maxPrunePercent 10 it is an error naming the pruned file, in both clusters of that overlay."""
    edit(based, "overlays/cluster-2/kustomization.yaml", "components:\n  - ../../components/export-gke\n", "")
    assert cli.main(["--root", str(based), "render"]) == 0
    capsys.readouterr()
    assert _validate(based, capsys)[1] == []
    (based / "policies" / "config.yaml").write_text("rules:\n  destructive-change:\n    parameters: {maxPrunePercent: 10}\n")
    code, found = _validate(based, capsys)
    assert code == 1
    assert sorted(f["cluster"] for f in found) == ["cluster-2", "cluster-3"]
    assert all("would prune 1 of its 5 objects (20%, more than maxPrunePercent 10%): 1 object "
               "(istio-apps/serviceexport-sample-producer.yaml)" in f["message"] for f in found), found


def test_the_diff_comment_reports_a_removed_cluster(based: Path, capsys) -> None:
    _remove_cluster_3(based, capsys)
    _git(based, "add", "-A")
    _git(based, "commit", "-q", "-m", "retire cluster-3")
    code = cli.main(["--root", str(based), "diff", "--base", "main"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "+ error destructive-change: cluster cluster-3 is removed from inventory.yaml (line 34 of main (" in out
