"""Reading inventory.yaml strictly into model.inventory's dataclasses: an unknown key, a bad value or an
overlay outside the repository is an error at its line."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import yaml

from gitops.infra import inventoryengines, yamlsrc
from gitops.infra.yamlsrc import Fields
from gitops.model.errors import InputError
from gitops.model.inventory import (AUTH_PROXY, AUTH_SECRET, AUTH_TYPES, DEFAULT_ROOTSYNC, INVENTORY_FILE,
                                    MCS_FLAVOURS, MINOR, SYNC_ENGINES, ArgoCD, Cluster, Clusterset, ConfigSync,
                                    Inventory, Repository, Retry, SyncOptions)
from gitops.model.names import DNS_LABEL

_DURATION = re.compile(r"^\d+(ms|s|m|h)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_TOP = ("repository", "argocd", "clustersets", "clusters")
_CLUSTER = ("name", "clusterset", "location", "kubernetesVersion", "mcs", "sync", "overlay", "configSync", "wave",
            "labels")
_CONFIG_SYNC = ("rootSyncName", "auth", "secretRef", "gcpServiceAccountEmail", *inventoryengines.CONFIG_SYNC_FIELDS)
_ARGOCD = ("cluster", "namespace", "project", "syncOptions", "clusterResources", "application", "appProject",
           "maxUpdate")
_SYNC_OPTIONS = ("serverSideApply", "createNamespace", "retry", "automated", "prune", "selfHeal")
_RETRY = ("limit", "backoffDuration", "backoffFactor", "backoffMaxDuration")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check_inside(root: Path, cluster: Cluster, r: Fields) -> None:
    """An overlay is a folder of this repository: not absolute, no '..' out of it, no symlink leading out."""
    overlay = cluster.overlay
    lexical = os.path.normpath(os.path.join(os.path.abspath(root), overlay))
    real_root = os.path.realpath(root)
    if os.path.isabs(overlay) or not (lexical + os.sep).startswith(os.path.abspath(root) + os.sep):
        raise r.fail(f"cluster {cluster.name!r}: overlay {overlay!r} is outside the repository", r.get("overlay"))
    real = os.path.realpath(lexical)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise r.fail(f"cluster {cluster.name!r}: overlay {overlay!r} leads outside the repository through a symlink "
                     f"(to {real})", r.get("overlay"))


def _cluster_resources(argo: Fields, file: str) -> tuple[tuple[str, str], ...]:
    """argocd.clusterResources: [{group: rbac.authorization.k8s.io, kind: ClusterRole}, ...] (group "" is core)."""
    out = []
    for node in argo.items("clusterResources", required=False):
        r = Fields(node, file, ("group", "kind"), "an argocd.clusterResources entry")
        group = r.get("group")
        empty = isinstance(group, yaml.ScalarNode) and group.tag == "tag:yaml.org,2002:str" and group.value == ""
        out.append(("" if empty else r.string("group"), r.string("kind")))
    return tuple(out)


def _typed(fields: Fields, key: str, kind: type, default: object) -> object:
    """A bool or int field (the YAML 1.1 scalars PyYAML resolves), an error at its line otherwise."""
    node = fields.get(key, required=False)
    if node is None:
        return default
    value = yamlsrc.construct(node)
    if type(value) is not kind or (kind is int and isinstance(value, int) and value < 1):
        want = "true or false" if kind is bool else "a positive whole number"
        raise fields.fail(f"{key!r} must be {want}", node)
    return value


def _config_sync(node: yaml.Node | None, file: str, cluster: str, sync: str) -> ConfigSync:
    if node is None:
        return ConfigSync()
    r = Fields(node, file, _CONFIG_SYNC, "'configSync'")
    if sync != "config-sync":
        raise r.fail(f"cluster {cluster!r} syncs with {sync}; 'configSync' is for sync: config-sync")
    auth = r.string("auth", required=False, default="none", choices=AUTH_TYPES)
    secret = r.string("secretRef", required=False, pattern=DNS_LABEL) or None
    email = r.string("gcpServiceAccountEmail", required=False, pattern=_EMAIL) or None
    if auth in AUTH_SECRET and secret is None:
        what = {"token": "token", "ssh": "ssh key", "cookiefile": "cookie file (key cookie_file)",
                "githubapp": "GitHub App's keys"}[auth]
        raise r.fail(f"auth {auth} needs 'secretRef': the Secret in config-management-system with the {what}")
    if auth not in AUTH_SECRET and secret is not None:
        raise r.fail(f"auth {auth} takes no 'secretRef'", r.get("secretRef"))
    if (auth == "gcpserviceaccount") != (email is not None):
        raise r.fail("auth gcpserviceaccount needs 'gcpServiceAccountEmail'" if email is None else
                     f"auth {auth} takes no 'gcpServiceAccountEmail'", r.get("gcpServiceAccountEmail", required=False))
    name = r.string("rootSyncName", required=False, default=DEFAULT_ROOTSYNC, pattern=DNS_LABEL)
    return ConfigSync(name, auth, secret, email, **inventoryengines.config_sync(r, auth, AUTH_PROXY))


def _sync_options(node: yaml.Node | None, file: str) -> SyncOptions:
    if node is None:
        return SyncOptions()
    r = Fields(node, file, _SYNC_OPTIONS, "'argocd.syncOptions'")
    retry = None
    retry_node = r.get("retry", required=False)
    if retry_node is not None:
        t = Fields(retry_node, file, _RETRY, "'argocd.syncOptions.retry'")
        retry = Retry(_typed(t, "limit", int, 5), t.string("backoffDuration", False, "5s", _DURATION),  # type: ignore[arg-type]
                      _typed(t, "backoffFactor", int, 2), t.string("backoffMaxDuration", False, "3m", _DURATION))  # type: ignore[arg-type]
    automated = _typed(r, "automated", bool, True)
    for key in ("prune", "selfHeal"):
        if not automated and r.get(key, required=False) is not None:
            raise r.fail(f"{key} is a setting of automated sync; automated is false", r.get(key))
    return SyncOptions(_typed(r, "serverSideApply", bool, False), _typed(r, "createNamespace", bool, False),  # type: ignore[arg-type]
                       retry, automated, _typed(r, "prune", bool, True), _typed(r, "selfHeal", bool, True))  # type: ignore[arg-type]


def load(root: Path, file: str = INVENTORY_FILE) -> Inventory:
    """The inventory of the repository at `root`, every overlay checked to be a folder of it."""
    return _parse(yamlsrc.compose_file(root / file, root), file, root, True)


def parse(text: str, root: Path, file: str = INVENTORY_FILE) -> Inventory:
    """The inventory in `text` (another revision's, read from git): read as strictly, but its overlays are not
    looked for on disk (they are that revision's, not the working tree's)."""
    return _parse(yamlsrc.compose_text(text, file), file, root, False)


def _parse(nodes: list[yaml.Node], file: str, root: Path, on_disk: bool) -> Inventory:
    if len(nodes) != 1:
        raise InputError("expected exactly one YAML document", file)
    top = Fields(nodes[0], file, _TOP, "the inventory")
    repo = Fields(top.get("repository"), file, ("url", "revision", "revisions"), "'repository'")
    repository = Repository(repo.string("url"), repo.string("revision", required=False, default="main"),
                            inventoryengines.revisions(repo))

    clustersets = []
    for node in top.items("clustersets"):
        r = Fields(node, file, ("name", "description"), "a clusterset")
        clustersets.append(Clusterset(r.string("name", pattern=DNS_LABEL),
                                      r.string("description", required=False), _line(node)))
    set_names = {s.name for s in clustersets}
    clusters: list[Cluster] = []
    for node in top.items("clusters"):
        r = Fields(node, file, _CLUSTER, "a cluster")
        cluster = Cluster(
            name=r.string("name", pattern=DNS_LABEL),
            clusterset=r.string("clusterset"),
            location=r.string("location"),
            kubernetes_version=r.string("kubernetesVersion", pattern=MINOR),
            mcs=r.string("mcs", choices=MCS_FLAVOURS),
            sync=r.string("sync", choices=SYNC_ENGINES),
            overlay=r.string("overlay"),
            line=_line(node),
            config_sync=_config_sync(r.get("configSync", required=False), file, r.string("name"), r.string("sync")),
            wave=inventoryengines.wave(r),
            labels=inventoryengines.labels(r),
        )
        if cluster.labels and cluster.sync != "argocd":
            raise r.fail(f"cluster {cluster.name!r} syncs with {cluster.sync}; 'labels' are for its Argo CD "
                         "Application (sync: argocd)", r.get("labels"))
        if cluster.clusterset not in set_names:
            raise r.fail(f"cluster {cluster.name!r} names clusterset {cluster.clusterset!r}, "
                         f"which is not declared under clustersets", r.get("clusterset"))
        if any(c.name == cluster.name for c in clusters):
            raise r.fail(f"cluster {cluster.name!r} is declared twice", r.get("name"))
        if on_disk:
            _check_inside(root, cluster, r)
            if not (root / cluster.overlay / "kustomization.yaml").is_file():
                raise r.fail(f"cluster {cluster.name!r}: overlay {cluster.overlay!r} has no kustomization.yaml",
                             r.get("overlay"))
        clusters.append(cluster)
    if not clusters:
        raise top.fail("no clusters declared", top.get("clusters"))
    _check_waves(repo, "revisions", repository.revisions, clusters, "cluster")

    argocd = None
    argo_node = top.get("argocd", required=False)
    if argo_node is not None:
        a = Fields(argo_node, file, _ARGOCD, "'argocd'")
        application, application_node = inventoryengines.application(a)
        argocd = ArgoCD(a.string("cluster"), a.string("namespace", required=False, default="argocd"),
                        a.string("project", pattern=DNS_LABEL),
                        _sync_options(a.get("syncOptions", required=False), file),
                        cluster_resources=_cluster_resources(a, file), application=application,
                        app_project=inventoryengines.app_project(a), max_update=inventoryengines.max_update(a))
        if argocd.cluster not in {c.name for c in clusters}:
            raise a.fail(f"argocd.cluster {argocd.cluster!r} is not a declared cluster", a.get("cluster"))
        if application.managed_namespace_metadata is not None and not argocd.sync_options.create_namespace:
            raise a.fail("managedNamespaceMetadata has an effect only on namespaces Argo CD creates: set "
                         "argocd.syncOptions.createNamespace: true",
                         yamlsrc.node_at(application_node, "managedNamespaceMetadata") if application_node else None)
        _check_waves(a, "maxUpdate", argocd.max_update, [c for c in clusters if c.sync == "argocd"], "Argo CD cluster")
    elif any(c.sync == "argocd" for c in clusters):
        raise top.fail("some clusters sync with argocd but no 'argocd' section says where Argo CD runs")
    clusters_line = yamlsrc.key_line(nodes[0], "clusters") or 1
    return Inventory(root, repository, argocd, tuple(clustersets), tuple(clusters), clusters_line)


def _check_waves(fields: Fields, key: str, by_wave: Mapping[int, object], clusters: list[Cluster], what: str) -> None:
    """Every wave a per-wave setting names is the wave of some cluster it applies to (a typo would be silent)."""
    waves = {c.wave for c in clusters}
    node = fields.get(key, required=False)
    for k, _ in (node.value if isinstance(node, yaml.MappingNode) else ()):
        wave = yamlsrc.construct(k)
        if wave in by_wave and wave not in waves:
            raise fields.fail(f"{key} names wave {wave}, which no {what} is in", k)
