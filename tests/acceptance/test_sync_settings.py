"""Sync settings from the inventory: the RootSync's auth, revision and name, Argo CD's sync options and retry.

Each rendered object goes through the real schema stage (the locked Config Sync and Argo CD CRDs).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import edit
from gitops.run import bootstrap
from gitops import cli

CLUSTER_2 = "    configSync:\n      rootSyncName: gitops-mcs\n      auth: none\n"


def _rootsync(root: Path, name: str) -> dict:
    return yaml.safe_load((root / f"bootstrap/config-sync/cluster-2/rootsync-{name}.yaml").read_text())


def _render_and_validate(root: Path, capsys) -> str:
    assert cli.main(["--root", str(root), "render"]) == 0
    capsys.readouterr()
    code = cli.main(["--root", str(root), "validate", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"findings": []' in out
    return out


@pytest.mark.parametrize(("settings", "git"), [
    ("      auth: token\n      secretRef: git-creds\n", {"auth": "token", "secretRef": {"name": "git-creds"}}),
    ("      auth: ssh\n      secretRef: git-ssh\n", {"auth": "ssh", "secretRef": {"name": "git-ssh"}}),
    ("      auth: gcpserviceaccount\n      gcpServiceAccountEmail: sync@proj.iam.gserviceaccount.com\n",
     {"auth": "gcpserviceaccount", "gcpServiceAccountEmail": "sync@proj.iam.gserviceaccount.com"}),
    ("      auth: gcenode\n", {"auth": "gcenode"}),
], ids=["token", "ssh", "gcpserviceaccount", "gcenode"])
def test_rootsync_auth_from_the_inventory(repo: Path, capsys, settings: str, git: dict) -> None:
    edit(repo, "inventory.yaml", CLUSTER_2, "    configSync:\n      rootSyncName: gitops-mcs\n" + settings)
    _render_and_validate(repo, capsys)
    spec = _rootsync(repo, "gitops-mcs")["spec"]["git"]
    assert spec == {"repo": "https://github.com/example-org/gitops-mcs.git", "revision": "main",
                    "dir": "clusters/cluster-2", **git}


def test_rootsync_default_name_is_not_root_sync(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", CLUSTER_2, "")
    _render_and_validate(repo, capsys)
    body = _rootsync(repo, "gitops")
    assert body["metadata"] == {"name": "gitops", "namespace": "config-management-system"}
    assert "branch" not in body["spec"]["git"] and body["spec"]["git"]["revision"] == "main"
    assert not (repo / "bootstrap/config-sync/cluster-2/rootsync-root-sync.yaml").exists()


def test_root_sync_only_when_asked(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", "rootSyncName: gitops-mcs", "rootSyncName: root-sync")
    _render_and_validate(repo, capsys)
    assert _rootsync(repo, "root-sync")["metadata"]["name"] == "root-sync"


@pytest.mark.parametrize(("settings", "message"), [
    ("      auth: token\n", "inventory.yaml:32:7: auth token needs 'secretRef'"),
    ("      auth: none\n      secretRef: git-creds\n", "inventory.yaml:33:18: auth none takes no 'secretRef'"),
    ("      auth: gcpserviceaccount\n", "inventory.yaml:32:7: auth gcpserviceaccount needs 'gcpServiceAccountEmail'"),
    ("      auth: password\n", "inventory.yaml:32:13: 'auth' is 'password'; expected one of: none, token, ssh,"),
    ("      auth: none\n      branch: main\n", "inventory.yaml:33:7: unknown field 'branch' in 'configSync'"),
], ids=["token-without-secret", "none-with-secret", "gsa-without-email", "unknown-auth", "unknown-field"])
def test_bad_sync_settings_exit_2_at_their_line(repo: Path, capsys, settings: str, message: str) -> None:
    edit(repo, "inventory.yaml", CLUSTER_2, "    configSync:\n" + settings)
    assert cli.main(["--root", str(repo), "render"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}"), err
    assert not (repo / "clusters").exists()


SYNC_OPTIONS = ("  syncOptions:\n    serverSideApply: true\n    createNamespace: true\n    retry:\n      limit: 3\n"
                "      backoffDuration: 5s\n      backoffFactor: 2\n      backoffMaxDuration: 3m\n")


def test_argocd_sync_options_default_to_automated_only(repo: Path, capsys) -> None:
    _render_and_validate(repo, capsys)
    appset = yaml.safe_load((repo / "bootstrap/argocd/applicationset-cluster-folders.yaml").read_text())
    assert appset["spec"]["template"]["spec"]["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}


def test_argocd_sync_options_and_retry(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", "  project: mcs-fleet\n" + SYNC_OPTIONS)
    _render_and_validate(repo, capsys)
    appset = yaml.safe_load((repo / "bootstrap/argocd/applicationset-cluster-folders.yaml").read_text())
    assert appset["spec"]["template"]["spec"]["syncPolicy"] == {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["ServerSideApply=true", "CreateNamespace=true"],
        "retry": {"limit": 3, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}}


def test_bad_argocd_sync_option_exits_2(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n",
         "  project: mcs-fleet\n" + SYNC_OPTIONS.replace("serverSideApply: true", "serverSideApply: yes please"))
    assert cli.main(["--root", str(repo), "render"]) == 2
    assert capsys.readouterr().err.startswith("error: inventory.yaml:12:22: 'serverSideApply' must be true or false")


def test_bad_retry_exits_2(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n",
         "  project: mcs-fleet\n" + SYNC_OPTIONS.replace("backoffDuration: 5s", "backoffDuration: soon"))
    assert cli.main(["--root", str(repo), "render"]) == 2
    assert "inventory.yaml:16:24: 'backoffDuration' value 'soon' does not match" in capsys.readouterr().err


def test_schema_stage_checks_the_sync_settings(repo: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync settings reach the schema stage: a retry the Argo CD CRD rejects is a schema finding."""
    real = bootstrap._sync_policy
    monkeypatch.setattr(bootstrap, "_sync_policy", lambda options: {**real(options), "retry": {"limit": "five"}})
    edit(repo, "inventory.yaml", "  project: mcs-fleet\n", "  project: mcs-fleet\n" + SYNC_OPTIONS)
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["rule"], f["cluster"]) for f in findings] == [("schema", "cluster-1")]
    assert "spec.template.spec.syncPolicy.retry.limit" in findings[0]["message"]
