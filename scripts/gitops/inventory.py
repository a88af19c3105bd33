"""The inventory (inventory.yaml): the single source of truth for clusters and clustersets."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yamlsrc
from .yamlsrc import Fields
from .errors import InputError

INVENTORY_FILE = "inventory.yaml"
MCS_FLAVOURS = ("gke", "mcs-api")
SYNC_ENGINES = ("argocd", "config-sync")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_MINOR = re.compile(r"^1\.(\d+)$")


@dataclass(frozen=True)
class Cluster:
    name: str
    clusterset: str
    location: str
    kubernetes_version: str  # "1.33": a minor version, as the schemas are per minor
    mcs: str  # "gke" (net.gke.io/v1) or "mcs-api" (multicluster.x-k8s.io)
    sync: str  # "argocd" or "config-sync"
    overlay: str  # path relative to the repository root
    line: int  # where the cluster is declared, for findings about the cluster itself


@dataclass(frozen=True)
class Clusterset:
    name: str
    description: str
    line: int


@dataclass(frozen=True)
class Repository:
    url: str
    revision: str


@dataclass(frozen=True)
class ArgoCD:
    cluster: str
    namespace: str
    project: str
    # Cluster-scoped kinds (group, kind) the AppProject permits besides Namespace: widened on purpose.
    cluster_resources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Inventory:
    root: Path
    repository: Repository
    argocd: ArgoCD | None
    clustersets: tuple[Clusterset, ...]
    clusters: tuple[Cluster, ...]

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def members(self, clusterset: str) -> list[Cluster]:
        return [c for c in self.clusters if c.clusterset == clusterset]


_TOP = ("repository", "argocd", "clustersets", "clusters")
_CLUSTER = ("name", "clusterset", "location", "kubernetesVersion", "mcs", "sync", "overlay")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _cluster_resources(argo: Fields, file: str) -> tuple[tuple[str, str], ...]:
    """argocd.clusterResources: [{group: rbac.authorization.k8s.io, kind: ClusterRole}, ...] (group "" is core)."""
    out = []
    for node in argo.items("clusterResources", required=False):
        r = Fields(node, file, ("group", "kind"), "an argocd.clusterResources entry")
        group = r.get("group")
        empty = isinstance(group, yaml.ScalarNode) and group.tag == "tag:yaml.org,2002:str" and group.value == ""
        out.append(("" if empty else r.string("group"), r.string("kind")))
    return tuple(out)


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
        clustersets.append(Clusterset(r.string("name", pattern=_DNS_LABEL),
                                      r.string("description", required=False), _line(node)))
    set_names = {s.name for s in clustersets}
    clusters: list[Cluster] = []
    for node in top.items("clusters"):
        r = Fields(node, file, _CLUSTER, "a cluster")
        cluster = Cluster(
            name=r.string("name", pattern=_DNS_LABEL),
            clusterset=r.string("clusterset"),
            location=r.string("location"),
            kubernetes_version=r.string("kubernetesVersion", pattern=_MINOR),
            mcs=r.string("mcs", choices=MCS_FLAVOURS),
            sync=r.string("sync", choices=SYNC_ENGINES),
            overlay=r.string("overlay"),
            line=_line(node),
        )
        if cluster.clusterset not in set_names:
            raise r.fail(f"cluster {cluster.name!r} names clusterset {cluster.clusterset!r}, "
                         f"which is not declared under clustersets", r.get("clusterset"))
        if any(c.name == cluster.name for c in clusters):
            raise r.fail(f"cluster {cluster.name!r} is declared twice", r.get("name"))
        if not (root / cluster.overlay / "kustomization.yaml").is_file():
            raise r.fail(f"cluster {cluster.name!r}: overlay {cluster.overlay!r} has no kustomization.yaml",
                         r.get("overlay"))
        clusters.append(cluster)
    if not clusters:
        raise top.fail("no clusters declared", top.get("clusters"))

    argocd = None
    argo_node = top.get("argocd", required=False)
    if argo_node is not None:
        a = Fields(argo_node, file, ("cluster", "namespace", "project", "clusterResources"), "'argocd'")
        argocd = ArgoCD(a.string("cluster"), a.string("namespace", required=False, default="argocd"),
                        a.string("project", pattern=_DNS_LABEL), _cluster_resources(a, file))
        if argocd.cluster not in {c.name for c in clusters}:
            raise a.fail(f"argocd.cluster {argocd.cluster!r} is not a declared cluster", a.get("cluster"))
    elif any(c.sync == "argocd" for c in clusters):
        raise top.fail("some clusters sync with argocd but no 'argocd' section says where Argo CD runs")
    return Inventory(root, repository, argocd, tuple(clustersets), tuple(clusters))
