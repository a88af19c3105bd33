"""Reading inventory.yaml strictly into model.inventory's dataclasses: an unknown key, a bad value or an
overlay outside the repository is an error at its line."""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from gitops.infra import yamlsrc
from gitops.infra.yamlsrc import Fields
from gitops.model.errors import InputError
from gitops.model.inventory import (AUTH_SECRET, AUTH_TYPES, DEFAULT_ROOTSYNC, INVENTORY_FILE, MCS_FLAVOURS, MINOR,
                                    SYNC_ENGINES, ArgoCD, Cluster, Clusterset, ConfigSync, Inventory, Repository,
                                    Retry, SyncOptions)
from gitops.model.names import DNS_LABEL

_DURATION = re.compile(r"^\d+(ms|s|m|h)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_TOP = ("repository", "argocd", "clustersets", "clusters")
_CLUSTER = ("name", "clusterset", "location", "kubernetesVersion", "mcs", "sync", "overlay", "configSync")
_CONFIG_SYNC = ("rootSyncName", "auth", "secretRef", "gcpServiceAccountEmail")
_SYNC_OPTIONS = ("serverSideApply", "createNamespace", "retry")
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
        raise r.fail(f"auth {auth} needs 'secretRef': the Secret in config-management-system with the "
                     f"{'token' if auth == 'token' else 'ssh key'}")
    if auth not in AUTH_SECRET and secret is not None:
        raise r.fail(f"auth {auth} takes no 'secretRef'", r.get("secretRef"))
    if (auth == "gcpserviceaccount") != (email is not None):
        raise r.fail("auth gcpserviceaccount needs 'gcpServiceAccountEmail'" if email is None else
                     f"auth {auth} takes no 'gcpServiceAccountEmail'", r.get("gcpServiceAccountEmail", required=False))
    name = r.string("rootSyncName", required=False, default=DEFAULT_ROOTSYNC, pattern=DNS_LABEL)
    return ConfigSync(name, auth, secret, email)


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
    return SyncOptions(_typed(r, "serverSideApply", bool, False), _typed(r, "createNamespace", bool, False),  # type: ignore[arg-type]
                       retry)


def load(root: Path, file: str = INVENTORY_FILE) -> Inventory:
    nodes = yamlsrc.compose_file(root / file, root)
    if len(nodes) != 1:
        raise InputError("expected exactly one YAML document", file)
    top = Fields(nodes[0], file, _TOP, "the inventory")
    repo = Fields(top.get("repository"), file, ("url", "revision"), "'repository'")
    repository = Repository(repo.string("url"), repo.string("revision", required=False, default="main"))

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
        )
        if cluster.clusterset not in set_names:
            raise r.fail(f"cluster {cluster.name!r} names clusterset {cluster.clusterset!r}, "
                         f"which is not declared under clustersets", r.get("clusterset"))
        if any(c.name == cluster.name for c in clusters):
            raise r.fail(f"cluster {cluster.name!r} is declared twice", r.get("name"))
        _check_inside(root, cluster, r)
        if not (root / cluster.overlay / "kustomization.yaml").is_file():
            raise r.fail(f"cluster {cluster.name!r}: overlay {cluster.overlay!r} has no kustomization.yaml",
                         r.get("overlay"))
        clusters.append(cluster)
    if not clusters:
        raise top.fail("no clusters declared", top.get("clusters"))

    argocd = None
    argo_node = top.get("argocd", required=False)
    if argo_node is not None:
        a = Fields(argo_node, file, ("cluster", "namespace", "project", "syncOptions", "clusterResources"),
                   "'argocd'")
        argocd = ArgoCD(a.string("cluster"), a.string("namespace", required=False, default="argocd"),
                        a.string("project", pattern=DNS_LABEL),
                        _sync_options(a.get("syncOptions", required=False), file),
                        cluster_resources=_cluster_resources(a, file))
        if argocd.cluster not in {c.name for c in clusters}:
            raise a.fail(f"argocd.cluster {argocd.cluster!r} is not a declared cluster", a.get("cluster"))
    elif any(c.sync == "argocd" for c in clusters):
        raise top.fail("some clusters sync with argocd but no 'argocd' section says where Argo CD runs")
    return Inventory(root, repository, argocd, tuple(clustersets), tuple(clusters))
