"""The inventory (inventory.yaml): the single source of truth for clusters and clustersets."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yamlsrc
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


class _Reader:
    """Reads fields off a mapping node and reports the line of whatever is wrong."""

    def __init__(self, node: yaml.Node, file: str) -> None:
        self.node, self.file = node, file

    def fail(self, message: str, line: int | None = None) -> InputError:
        return InputError(message, self.file, line or self.node.start_mark.line + 1)

    def child(self, key: str, required: bool = True) -> yaml.Node | None:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail("expected a mapping")
        found = yamlsrc.node_at(self.node, key)
        if found is None and required:
            raise self.fail(f"missing required field {key!r}")
        return found

    def string(self, key: str, pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = (),
               required: bool = True, default: str = "") -> str:
        node = self.child(key, required)
        if node is None:
            return default
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(f"{key!r} must be a string (quote numbers such as \"1.33\")", line)
        value = node.value
        if choices and value not in choices:
            raise self.fail(f"{key!r} is {value!r}; expected one of: {', '.join(choices)}", line)
        if pattern and not pattern.match(value):
            raise self.fail(f"{key!r} value {value!r} does not match {pattern.pattern}", line)
        return value

    def items(self, key: str) -> list["_Reader"]:
        node = self.child(key)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"{key!r} must be a list", node.start_mark.line + 1 if node else None)
        return [_Reader(item, self.file) for item in node.value]


def load(root: Path, file: str = INVENTORY_FILE) -> Inventory:
    nodes = yamlsrc.compose_file(root / file, root)
    if len(nodes) != 1:
        raise InputError("expected exactly one YAML document", file)
    top = _Reader(nodes[0], file)
    repo = _Reader(top.child("repository"), file)
    repository = Repository(repo.string("url"), repo.string("revision", default="main", required=False))

    clustersets = tuple(
        Clusterset(r.string("name", _DNS_LABEL), r.string("description", required=False),
                   r.node.start_mark.line + 1)
        for r in top.items("clustersets")
    )
    set_names = {s.name for s in clustersets}
    clusters: list[Cluster] = []
    for r in top.items("clusters"):
        line = r.node.start_mark.line + 1
        cluster = Cluster(
            name=r.string("name", _DNS_LABEL),
            clusterset=r.string("clusterset"),
            location=r.string("location"),
            kubernetes_version=r.string("kubernetesVersion", _MINOR),
            mcs=r.string("mcs", choices=MCS_FLAVOURS),
            sync=r.string("sync", choices=SYNC_ENGINES),
            overlay=r.string("overlay"),
            line=line,
        )
        if cluster.clusterset not in set_names:
            raise r.fail(f"cluster {cluster.name!r} names clusterset {cluster.clusterset!r}, "
                         f"which is not declared under clustersets", line)
        if any(c.name == cluster.name for c in clusters):
            raise r.fail(f"cluster {cluster.name!r} is declared twice", line)
        if not (root / cluster.overlay / "kustomization.yaml").is_file():
            raise r.fail(f"cluster {cluster.name!r}: overlay {cluster.overlay!r} has no kustomization.yaml", line)
        clusters.append(cluster)
    if not clusters:
        raise top.fail("no clusters declared")

    argocd = None
    argo_node = top.child("argocd", required=False)
    if argo_node is not None:
        a = _Reader(argo_node, file)
        argocd = ArgoCD(a.string("cluster"), a.string("namespace", default="argocd", required=False),
                        a.string("project", _DNS_LABEL))
        if argocd.cluster not in {c.name for c in clusters}:
            raise a.fail(f"argocd.cluster {argocd.cluster!r} is not a declared cluster")
    elif any(c.sync == "argocd" for c in clusters):
        raise top.fail("some clusters sync with argocd but no 'argocd' section says where Argo CD runs")
    return Inventory(root, repository, argocd, clustersets, tuple(clusters))
