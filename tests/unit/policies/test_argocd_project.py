"""argocd-project-fit: what the generated AppProject permits, through validate, and widening it on purpose."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import PROJECT, edit, run_policy, snippet_line, write
from gitops.run import bootstrap
from gitops import cli
from gitops.infra import inventoryfile as inventory
from gitops.model.errors import InputError
from policies import argocd_project_fit, no_default_namespace

C1_KUST = "overlays/cluster-1/kustomization.yaml"
C2_KUST = "overlays/cluster-2/kustomization.yaml"
CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: sample-caller-reader
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
"""
WIDEN = "  project: mcs-fleet\n  clusterResources:\n    - group: rbac.authorization.k8s.io\n      kind: ClusterRole\n"


def _add_cluster_role(root: Path, kustomization: str) -> str:
    folder = Path(kustomization).parent.as_posix()
    write(root, f"{folder}/clusterrole.yaml", CLUSTER_ROLE)
    edit(root, kustomization, "resources:\n", "resources:\n  - clusterrole.yaml\n")
    return f"{folder}/clusterrole.yaml"


def test_a_cluster_role_argo_cd_would_refuse_fails_validate(repo: Path, capsys) -> None:
    path = _add_cluster_role(repo, C1_KUST)
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    [f] = json.loads(capsys.readouterr().out)["findings"]
    assert f["rule"] == "argocd-project-fit"
    assert f["message"] == ("cluster-1 ClusterRole sample-caller-reader is refused by Argo CD's AppProject check "
                            "(Application cluster-1): resource rbac.authorization.k8s.io:ClusterRole is not permitted "
                            "in project mcs-fleet")
    assert (f["location"]["path"], f["location"]["line"]) == (path, snippet_line(repo, path, "kind: ClusterRole"))


def test_the_inventory_widens_the_project_and_the_bootstrap_renders_it(repo: Path, capsys) -> None:
    _add_cluster_role(repo, C1_KUST)
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", WIDEN)
    assert cli.main(["--root", str(repo), "render"]) == 0
    project = (repo / "bootstrap/argocd/appproject-mcs-fleet.yaml").read_text()
    assert "  - group: rbac.authorization.k8s.io\n    kind: ClusterRole\n" in project
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 0, capsys.readouterr().out


def test_config_sync_clusters_are_not_restricted(repo: Path) -> None:
    """cluster-2 syncs with Config Sync: its RootSync runs as cluster-admin, nothing is refused."""
    _add_cluster_role(repo, C2_KUST)
    assert run_policy(repo, argocd_project_fit.POLICY) == []


def test_a_bad_cluster_resources_entry_is_bad_input(repo: Path) -> None:
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", "  project: mcs-fleet\n  clusterResources:\n    - grp: x\n")
    with pytest.raises(InputError, match="unknown field 'grp'"):
        inventory.load(repo)


def test_generated_project_permits_the_repository() -> None:
    from conftest import PROJECT as ROOT
    inv = inventory.load(ROOT)
    assert bootstrap.app_project(inv)["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]


GATEWAY_CLASS = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: internal
spec:
  controllerName: example.com/gateway
"""


def test_no_default_namespace_reads_a_crd_scope(repo: Path) -> None:
    """GatewayClass is cluster-scoped by its locked CRD, not by a hard-coded list: no finding."""
    write(repo, "overlays/cluster-2/gatewayclass.yaml", GATEWAY_CLASS)
    edit(repo, C2_KUST, "resources:\n", "resources:\n  - gatewayclass.yaml\n")
    assert run_policy(repo, no_default_namespace.POLICY) == []
    # ... while a namespaced custom kind without a namespace is still reported
    write(repo, "overlays/cluster-2/gatewayclass.yaml", GATEWAY_CLASS.replace("GatewayClass", "Gateway")
          .replace("  controllerName: example.com/gateway\n", "  gatewayClassName: internal\n  listeners: []\n"))
    [f] = run_policy(repo, no_default_namespace.POLICY)
    assert f.message.startswith("cluster-2 Gateway internal is without a namespace")


@pytest.mark.parametrize("installed, severity", [(False, "error"), (True, "notice")])
def test_an_unavailable_verdict_is_never_a_pass(installed: bool, severity: str) -> None:
    """Without Argo CD's verdict the rules say "not checked": an error from a checkout of this project (CI's gate),
    a notice only for the tooling installed as a package in a repository without the plan program's sources (a
    pre-commit hook), so the hook still runs every other check."""
    from gitops.model import argocd
    from gitops.model.objects import Objects
    from gitops.model.rules import Severity

    inv = inventory.load(PROJECT)
    verdict = argocd.Verdict(unavailable="the plan program is not at hand", installed=installed)
    found = argocd.not_evaluated(Objects(inv, {}, argocd=verdict), "argocd-project-fit")
    assert found is not None and "argocd-project-fit is not checked: the plan program is not at hand" in found.message
    assert (found.severity or Severity.ERROR).value == severity
