"""The inventory's sync-engine settings (issue 23) are read strictly: each mistake is an error at its line."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ENGINE_SETTINGS_ARGOCD, ENGINE_SETTINGS_CONFIG_SYNC, copy_sources, edit
from gitops import cli
from gitops.infra import inventoryfile
from gitops.model.errors import InputError

ARGOCD = "  project: mcs-fleet\n"
CLUSTER_1 = "    overlay: overlays/cluster-1\n"
CONFIG_SYNC = "      auth: none\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(tmp_path_factory.mktemp("inventory") / "repo", ("inventory.yaml", "overlays", "base",
                                                                        "components"))


def _error(root: Path, old: str, new: str) -> InputError:
    text = (root / "inventory.yaml").read_text()
    edit(root, "inventory.yaml", old, new)
    try:
        with pytest.raises(InputError) as raised:
            inventoryfile.load(root)
    finally:
        (root / "inventory.yaml").write_text(text)
    return raised.value


def _line(root: Path, old: str, new: str, marker: str) -> int:
    """The line of `marker` in the inventory once `old` is replaced by `new`."""
    text = (root / "inventory.yaml").read_text().replace(old, new)
    return text[:text.index(marker)].count("\n") + 1


CASES = [
    ("application-unknown-key", ARGOCD, ARGOCD + "  application:\n    finalizers: [x]\n", "finalizers",
     "unknown field 'finalizers' in 'argocd.application'"),
    ("history-not-int", ARGOCD, ARGOCD + "  application:\n    revisionHistoryLimit: ten\n", "revisionHistoryLimit",
     "revisionHistoryLimit must be a whole number"),
    ("label-key", ARGOCD, ARGOCD + "  application:\n    labels: {'bad key': x}\n", "labels",
     "is not a label key"),
    ("ignore-needs-kind", ARGOCD, ARGOCD + "  application:\n    ignoreDifferences:\n    - group: apps\n",
     "- group", "ignoreDifferences[0] is missing required field 'kind'"),
    ("namespace-metadata-needs-create", ARGOCD,
     ARGOCD + "  application:\n    managedNamespaceMetadata: {labels: {a: b}}\n", "managedNamespaceMetadata",
     "set argocd.syncOptions.createNamespace: true"),
    ("sync-window-kind", ARGOCD, ARGOCD + "  appProject:\n    syncWindows:\n    - {kind: maybe, schedule: '0 * * * *',"
     " duration: 1h}\n", "- {kind", "expected one of: allow, deny"),
    ("sync-window-cron", ARGOCD, ARGOCD + "  appProject:\n    syncWindows:\n    - {kind: deny, schedule: 'hourly',"
     " duration: 1h}\n", "- {kind", "is not a five-field cron schedule"),
    ("whitelist-entry", ARGOCD, ARGOCD + "  appProject:\n    namespaceResourceWhitelist:\n    - {group: apps}\n",
     "- {group", "namespaceResourceWhitelist[0] is missing required field 'kind'"),
    ("max-update-unknown-wave", ARGOCD, ARGOCD + "  maxUpdate: {3: 1}\n", "3: 1", "names wave 3, which no Argo CD"),
    ("wave-not-int", CLUSTER_1, CLUSTER_1 + "    wave: first\n", "wave: first", "'wave' must be a whole number"),
    ("labels-on-config-sync", "    overlay: overlays/cluster-2\n", "    overlay: overlays/cluster-2\n    labels: {a: b}\n",
     "labels: {a", "'labels' are for its Argo CD Application"),
    ("revision-unknown-wave", "  revision: main\n", "  revision: main\n  revisions: {2: release}\n", "2: release",
     "names wave 2, which no cluster is in"),
    ("proxy-with-ssh", CONFIG_SYNC, "      auth: ssh\n      secretRef: git-ssh\n      proxy: https://proxy:3128\n",
     "proxy:", "proxy has an effect only with auth none, token, cookiefile"),
    ("ca-with-ssh", CONFIG_SYNC, "      auth: ssh\n      secretRef: git-ssh\n      caCertSecretRef: ca\n",
     "caCertSecretRef", "auth ssh takes none"),
    ("period", CONFIG_SYNC, CONFIG_SYNC + "      period: soon\n", "period", "period"),
    ("role-needs-namespace", CONFIG_SYNC, CONFIG_SYNC + "      roleRefs:\n      - {kind: Role, name: r}\n",
     "- {kind: Role", "needs the namespace of the Role"),
    ("role-kind", CONFIG_SYNC, CONFIG_SYNC + "      roleRefs:\n      - {kind: Group, name: r}\n",
     "- {kind: Group", "expected one of: ClusterRole, Role"),
    ("override-container", CONFIG_SYNC, CONFIG_SYNC + "      override:\n        logLevels:\n"
     "        - {containerName: app, logLevel: 3}\n", "- {containerName", "expected one of: reconciler"),
    ("prune-without-automated", ARGOCD, ARGOCD + "  syncOptions: {automated: false, prune: true}\n", "syncOptions",
     "prune is a setting of automated sync; automated is false"),
    ("cookiefile-needs-secret", CONFIG_SYNC, "      auth: cookiefile\n", "rootSyncName", "needs 'secretRef'"),
]


@pytest.mark.parametrize(("old", "new", "marker", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_setting_is_an_error_at_its_line(template: Path, old: str, new: str, marker: str, words: str) -> None:
    error = _error(template, old, new)
    assert error.file == "inventory.yaml"
    assert words in error.message, error.message
    assert error.line == _line(template, old, new, marker), str(error)


def test_every_setting_is_read(template: Path) -> None:
    edit(template, "inventory.yaml", ARGOCD, ENGINE_SETTINGS_ARGOCD)
    edit(template, "inventory.yaml", CLUSTER_1, CLUSTER_1 + "    wave: 1\n    labels: {env: prod}\n")
    edit(template, "inventory.yaml", CONFIG_SYNC, ENGINE_SETTINGS_CONFIG_SYNC)
    inv = inventoryfile.load(template)
    argo = inv.argocd
    assert argo is not None and argo.max_update == {1: "25%"}
    assert argo.application.revision_history_limit == 5 and argo.application.labels == {"team": "platform"}
    assert argo.app_project.spec()["syncWindows"][0]["duration"] == "8h"
    c1, c2 = inv.clusters
    assert (c1.wave, c1.labels) == (1, {"env": "prod"})
    cs = c2.config_sync
    assert (cs.ca_cert_secret_ref, cs.proxy, cs.period) == ("git-ca", "https://proxy.example.com:3128", "30s")
    assert cs.override.resources == ({"containerName": "reconciler", "cpuRequest": "100m", "memoryLimit": "512Mi"},)


def test_the_command_line_reports_the_line(repo: Path, capsys) -> None:
    edit(repo, "inventory.yaml", CONFIG_SYNC, CONFIG_SYNC + "      roleRefs:\n      - {kind: Role, name: r}\n")
    assert cli.main(["--root", str(repo), "validate"]) == 2
    err = capsys.readouterr().err
    assert "inventory.yaml:35:" in err and "needs the namespace of the Role" in err
    assert "Traceback" not in err
