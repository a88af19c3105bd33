"""mcs-clusterset-one-flavour: a GKE cluster and an mcs-api cluster in one clusterset never see each other's exports."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import edit, run_policy, snippet_line
from gitops import cli
from gitops.model.findings import SourceLocation
from policies import mcs_clusterset_one_flavour

CLUSTER_2_GKE = "mcs: gke\n    sync: config-sync"
CLUSTER_2_MCS_API = "mcs: mcs-api\n    sync: config-sync"
MESSAGE = ("clusterset fleet-prod mixes MCS implementations: cluster-2 runs mcs-api, while cluster-1 runs gke; "
           "neither imports the other's exports, so calls between them do not resolve")


def test_a_gke_and_an_mcs_api_cluster_in_one_clusterset(repo: Path) -> None:
    """Before this rule, this repository with cluster-2 switched to mcs-api (and its component) gave 0 findings."""
    edit(repo, "inventory.yaml", CLUSTER_2_GKE, CLUSTER_2_MCS_API)
    edit(repo, "overlays/cluster-2/kustomization.yaml", "- ../../components/export-gke", "- ../../components/export-mcs-api")
    findings = run_policy(repo, mcs_clusterset_one_flavour.POLICY)
    assert [(f.message, f.cluster, f.location) for f in findings] == [
        (MESSAGE, "cluster-2", SourceLocation("inventory.yaml", snippet_line(repo, "inventory.yaml", "name: cluster-2")))]


def test_one_flavour_per_clusterset_is_quiet(repo: Path) -> None:
    assert run_policy(repo, mcs_clusterset_one_flavour.POLICY) == []
    edit(repo, "inventory.yaml", CLUSTER_2_GKE, CLUSTER_2_MCS_API)
    edit(repo, "inventory.yaml", "mcs: gke\n    sync: argocd", "mcs: mcs-api\n    sync: argocd")
    edit(repo, "overlays/cluster-2/kustomization.yaml", "- ../../components/export-gke", "- ../../components/export-mcs-api")
    assert run_policy(repo, mcs_clusterset_one_flavour.POLICY) == []


def test_two_clustersets_of_different_flavours_are_quiet(repo: Path) -> None:
    edit(repo, "inventory.yaml", "clusters:\n", "  - name: fleet-upstream\nclusters:\n")
    edit(repo, "inventory.yaml", "clusterset: fleet-prod\n    location: us-east1", "clusterset: fleet-upstream\n    location: us-east1")
    edit(repo, "inventory.yaml", CLUSTER_2_GKE, CLUSTER_2_MCS_API)
    edit(repo, "overlays/cluster-2/kustomization.yaml", "- ../../components/export-gke", "- ../../components/export-mcs-api")
    assert run_policy(repo, mcs_clusterset_one_flavour.POLICY) == []


def test_validate_reports_it_at_the_inventory_entry(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", CLUSTER_2_GKE, CLUSTER_2_MCS_API)
    edit(repo, "overlays/cluster-2/kustomization.yaml", "- ../../components/export-gke", "- ../../components/export-mcs-api")
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    found = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "mcs-clusterset-one-flavour"]
    assert [(f["message"], f["location"]["path"]) for f in found] == [(MESSAGE, "inventory.yaml")]
