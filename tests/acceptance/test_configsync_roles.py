"""Issue 23, least privilege for Config Sync: the RootSync binds roles derived from its folder's kinds
(override.roleRefs), and configsync-role-fit reports an object those roles do not let its reconciler apply."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import edit
from gitops import cli

BOOTSTRAP = "bootstrap/config-sync/cluster-2"
APPS_RULE = """- apiGroups:
  - apps
  resources:
  - deployments
  verbs:
  - create
  - update
  - patch
  - delete
"""


def _load(root: Path, rel: str) -> dict:
    return yaml.safe_load((root / rel).read_text())


def test_rootsync_binds_the_roles_its_folder_needs(repo: Path) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    rootsync = _load(repo, f"{BOOTSTRAP}/rootsync-gitops-mcs.yaml")
    assert rootsync["spec"]["override"]["roleRefs"] == [
        {"kind": "ClusterRole", "name": "gitops-mcs-reconciler"},
        {"kind": "ClusterRole", "name": "gitops-mcs-reconciler-namespaced", "namespace": "istio-apps"}]
    wide = _load(repo, f"{BOOTSTRAP}/clusterrole-gitops-mcs-reconciler.yaml")["rules"]
    assert {"apiGroups": ["net.gke.io"], "resources": ["serviceexports"], "verbs": ["get", "list", "watch"]} in wide
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "update", "patch", "delete"]} in wide
    local = _load(repo, f"{BOOTSTRAP}/clusterrole-gitops-mcs-reconciler-namespaced.yaml")["rules"]
    assert {"apiGroups": ["apps"], "resources": ["deployments"],
            "verbs": ["create", "update", "patch", "delete"]} in local
    assert cli.main(["--root", str(repo), "validate"]) == 0


def test_a_kind_outside_the_roles_is_an_error_at_its_line(repo: Path, capsys) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    edit(repo, f"{BOOTSTRAP}/clusterrole-gitops-mcs-reconciler-namespaced.yaml", APPS_RULE, "")
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    found = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "configsync-role-fit"]
    assert len(found) == 1, found
    assert found[0]["message"] == (
        "cluster-2 Deployment istio-apps/sample-producer-v1 is synced by Config Sync, but its reconciler may not "
        "create, update, patch, delete apps/deployments in namespace istio-apps (reading is needed cluster-wide); "
        "Config Sync would be refused")
    assert (found[0]["location"]["path"], found[0]["location"]["line"]) == ("base/producer/deployment.yaml", 2)


def test_roles_named_in_the_inventory(repo: Path, capsys) -> None:
    """roleRefs from the inventory replace the derived roles; a role bootstrap/ does not define is a warning."""
    edit(repo, "inventory.yaml", "      auth: none\n",
         "      auth: none\n      roleRefs:\n      - kind: ClusterRole\n        name: fleet-reconciler\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    assert _load(repo, f"{BOOTSTRAP}/rootsync-gitops-mcs.yaml")["spec"]["override"]["roleRefs"] == [
        {"kind": "ClusterRole", "name": "fleet-reconciler"}]
    assert sorted(p.name for p in (repo / BOOTSTRAP).iterdir()) == ["rootsync-gitops-mcs.yaml"]
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate"]) == 0
    out = capsys.readouterr().out
    assert "warning configsync-role-fit: cluster-2: the RootSync's roleRefs name ClusterRole fleet-reconciler" in out


@pytest.mark.slow
def test_e2e_asks_the_rbac_authorizer(repo: Path, capsys) -> None:
    """e2e binds the RootSync's roleRefs to the reconciler's service account and asks the real authorizer: the
    derived roles cover the folder; a role without Deployments is a server-forbidden finding at its line."""
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    edit(repo, f"{BOOTSTRAP}/clusterrole-gitops-mcs-reconciler-namespaced.yaml", APPS_RULE, "")
    assert cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-2", "--format", "json"]) == 1
    found = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "server-forbidden"]
    assert [f["message"] for f in found] == [
        "Deployment istio-apps/sample-producer-v1 in cluster cluster-2 is synced by Config Sync, but the RBAC "
        "authorizer denies its reconciler create, update, patch, delete apps/deployments in namespace istio-apps "
        "(service account config-management-system/root-reconciler-gitops-mcs, bound by the RootSync's roleRefs)"]
    assert (found[0]["location"]["path"], found[0]["location"]["line"]) == ("base/producer/deployment.yaml", 2)
