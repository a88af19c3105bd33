"""Issue 23: the Argo CD and Config Sync settings of the inventory reach the rendered objects, and those
objects pass the real schema stage (the locked Argo CD and Config Sync CRDs)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ENGINE_SETTINGS_ARGOCD, ENGINE_SETTINGS_CONFIG_SYNC, edit
from gitops import cli

def _load(root: Path, rel: str) -> dict:
    return yaml.safe_load((root / rel).read_text())


def test_the_settings_render_and_pass_the_locked_crds(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", "      auth: none\n", ENGINE_SETTINGS_CONFIG_SYNC)
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", ENGINE_SETTINGS_ARGOCD)
    edit(repo, "inventory.yaml", "    overlay: overlays/cluster-1\n", "    overlay: overlays/cluster-1\n    wave: 1\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    appset = _load(repo, "bootstrap/argocd/applicationset-cluster-folders.yaml")["spec"]["template"]
    assert appset["metadata"]["labels"] == {"team": "platform"}
    assert appset["spec"]["revisionHistoryLimit"] == 5
    assert appset["spec"]["ignoreDifferences"] == [{"group": "apps", "kind": "Deployment",
                                                    "jsonPointers": ["/spec/replicas"]}]
    assert appset["spec"]["syncPolicy"]["managedNamespaceMetadata"] == {"labels": {"owner": "fleet"}}
    project = _load(repo, "bootstrap/argocd/appproject-mcs-fleet.yaml")["spec"]
    assert project["syncWindows"][0]["schedule"] == "0 22 * * *" and project["sourceNamespaces"] == ["argocd-apps"]
    git = _load(repo, "bootstrap/config-sync/cluster-2/rootsync-gitops-mcs.yaml")["spec"]
    assert (git["git"]["caCertSecretRef"], git["git"]["proxy"], git["git"]["period"]) == (
        {"name": "git-ca"}, "https://proxy.example.com:3128", "30s")
    assert git["override"]["logLevels"] == [{"containerName": "git-sync", "logLevel": 5}]
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "validate", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["findings"] == []


def test_a_namespaced_kind_the_project_refuses(repo: Path, capsys) -> None:
    """The inventory's namespaceResourceBlacklist reaches the AppProject, and argocd-project-fit judges by it."""
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n",
         "  project: mcs-fleet\n  appProject:\n    namespaceResourceBlacklist: [{group: apps, kind: Deployment}]\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate"]) == 1
    out = capsys.readouterr().out
    assert "error argocd-project-fit: " in out
    # Argo CD's own AppProject check (the plan program) gives the verdict, in its words
    assert "Deployment istio-apps/sample-caller-v1 is refused by Argo CD's AppProject check" in out
    assert "resource apps:Deployment is not permitted in project mcs-fleet" in out


@pytest.mark.parametrize(("options", "policy"), [
    ("{}", {"automated": {"prune": True, "selfHeal": True}}),
    ("{prune: false}", {"automated": {"prune": False, "selfHeal": True}}),
    ("{automated: false}", {}),
], ids=["default", "no-prune", "manual"])
def test_automated_sync_from_the_inventory(repo: Path, options: str, policy: dict) -> None:
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", f"  project: mcs-fleet\n  syncOptions: {options}\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    template = _load(repo, "bootstrap/argocd/applicationset-cluster-folders.yaml")["spec"]["template"]
    assert template["spec"]["syncPolicy"] == policy
    assert cli.main(["--root", str(repo), "validate"]) == 0
