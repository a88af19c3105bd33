"""Sync-engine bootstrap objects, made from the inventory so that fifty clusters need no hand edits.

Argo CD: one AppProject and one ApplicationSet whose list generator makes an Application per cluster that syncs
with Argo CD: its folder clusters/<name>, its destination (Argo CD's own cluster as `in-cluster`, every other by
its registered name), its wave's revision, its labels. The ApplicationSet never deletes what a removed cluster
had: `preserveResourcesOnDeletion` keeps the resources finalizer off the Applications and `applicationsSync:
create-update` keeps the Application itself. With waves, a RollingSync strategy syncs wave after wave.
Config Sync: per cluster, one RootSync (unstructured, dir clusters/<name>) with the auth, revision and name the
inventory gives it (never `root-sync` by default: GKE owns that one), bound by `override.roleRefs` to the roles
its folder needs (two ClusterRoles derived from the folder's kinds, below) unless the inventory names others.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from gitops.model.engines import APPLICATIONS_SYNC, IN_CLUSTER, WAVE_LABEL, RoleRef
from gitops.model.inventory import Cluster, Inventory, SyncOptions
from gitops.model.kinds import Scopes
from gitops.model.resources import Resource

CLUSTERS_DIR = "clusters"
BOOTSTRAP_DIR = "bootstrap"
ROOTSYNC_NAMESPACE = "config-management-system"
READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete")


def app_project(inv: Inventory) -> dict[str, Any] | None:
    """The generated AppProject (None without Argo CD clusters): what Argo CD permits each synced folder."""
    if inv.argocd is None or not any(c.sync == "argocd" for c in inv.clusters):
        return None
    return _argocd(inv)[0]


def destination(inv: Inventory, cluster: Cluster) -> dict[str, str]:
    """An Argo CD cluster's Application destination: `in-cluster` by its server for the cluster Argo CD runs in
    (registered by Argo CD itself, so it needs no second registration), by its registered name for the others."""
    if inv.argocd is not None and cluster.name == inv.argocd.cluster:
        return {"server": IN_CLUSTER}
    return {"name": cluster.name}


def _argocd(inv: Inventory) -> list[dict[str, Any]]:
    assert inv.argocd is not None
    argo = inv.argocd
    synced = [c for c in inv.clusters if c.sync == "argocd"]
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": argo.project, "namespace": argo.namespace},
        "spec": {
            "description": "Per-cluster folders of this repository, one Application each",
            "sourceRepos": [inv.repository.url],
            "destinations": [{**destination(inv, c), "namespace": "*"} for c in synced],
            "clusterResourceWhitelist": [{"group": group, "kind": kind} for group, kind in
                                         dict.fromkeys((("", "Namespace"), *argo.cluster_resources))],
            **argo.app_project.spec(),
        },
    }
    return [project, _application_set(inv, synced)]


def _application_set(inv: Inventory, synced: list[Cluster]) -> dict[str, Any]:
    """One Application per Argo CD cluster, from a list the inventory writes: the generator needs no folder to
    exist to know a cluster, and each element carries what differs per cluster."""
    assert inv.argocd is not None
    argo, repo = inv.argocd, inv.repository
    per_wave_revision = any(c.wave in repo.revisions for c in synced)
    labelled = any(c.labels or c.wave is not None for c in synced)
    elements = []
    for c in synced:
        dest = destination(inv, c)
        element: dict[str, Any] = {"cluster": c.name, "path": f"{CLUSTERS_DIR}/{c.name}",
                                   "destinationName": dest.get("name", ""), "destinationServer": dest.get("server", "")}
        if per_wave_revision:
            element["revision"] = repo.revision_of(c)
        if labelled:
            element["labels"] = {**c.labels, **({WAVE_LABEL: str(c.wave)} if c.wave is not None else {})}
        elements.append(element)
    app = argo.application
    metadata: dict[str, Any] = {"name": "{{.cluster}}"}
    if app.labels:
        metadata["labels"] = dict(app.labels)
    if app.annotations:
        metadata["annotations"] = dict(app.annotations)
    spec: dict[str, Any] = {
        "project": argo.project,
        "source": {"repoURL": repo.url, "targetRevision": "{{.revision}}" if per_wave_revision else repo.revision,
                   "path": "{{.path}}", "directory": {"recurse": True}},
        # One of the two is empty (Argo CD reads an empty one as unset): a name, or the in-cluster server.
        "destination": {"name": "{{.destinationName}}", "server": "{{.destinationServer}}"},
        "syncPolicy": _sync_policy(argo.sync_options, app.managed_namespace_metadata),
    }
    if app.ignore_differences:
        spec["ignoreDifferences"] = list(app.ignore_differences)
    if app.revision_history_limit is not None:
        spec["revisionHistoryLimit"] = app.revision_history_limit
    appset: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "cluster-folders", "namespace": argo.namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            # A cluster that leaves the inventory keeps its Application and everything it synced: removal is a
            # step a person takes (docs/repository.md), never a side effect of a merged change.
            "syncPolicy": {"applicationsSync": APPLICATIONS_SYNC, "preserveResourcesOnDeletion": True},
            "generators": [{"list": {"elements": elements}}],
            "template": {"metadata": metadata, "spec": spec},
        },
    }
    steps = _rolling_steps(inv, synced)
    if steps:
        appset["spec"]["strategy"] = {"type": "RollingSync", "rollingSync": {"steps": steps}}
    if labelled:  # each cluster's own labels: a map per element, which only a patch can write as keys
        appset["spec"]["templatePatch"] = "metadata:\n  labels: {{ toJson .labels }}\n"
    return appset


def _rolling_steps(inv: Inventory, synced: list[Cluster]) -> list[dict[str, Any]]:
    """One RollingSync step per wave of the Argo CD clusters, in order; the clusters without a wave last (an
    Application no step selects is never synced by a RollingSync)."""
    assert inv.argocd is not None
    waves = sorted({c.wave for c in synced if c.wave is not None})
    if not waves:
        return []
    steps: list[dict[str, Any]] = []
    for wave in waves:
        step: dict[str, Any] = {"matchExpressions": [{"key": WAVE_LABEL, "operator": "In", "values": [str(wave)]}]}
        if wave in inv.argocd.max_update:
            step["maxUpdate"] = inv.argocd.max_update[wave]
        steps.append(step)
    if any(c.wave is None for c in synced):
        steps.append({"matchExpressions": [{"key": WAVE_LABEL, "operator": "NotIn", "values": [str(w) for w in waves]}]})
    return steps


def _sync_policy(options: SyncOptions, namespace_metadata: Any = None) -> dict[str, Any]:
    """The Applications' syncPolicy: automated (prune and selfHeal) unless the inventory says otherwise, plus its
    sync options and retry."""
    policy: dict[str, Any] = {"automated": {"prune": options.prune, "selfHeal": options.self_heal}} \
        if options.automated else {}
    flags = [f for f, on in (("ServerSideApply=true", options.server_side_apply),
                             ("CreateNamespace=true", options.create_namespace)) if on]
    if flags:
        policy["syncOptions"] = flags
    if namespace_metadata is not None:
        policy["managedNamespaceMetadata"] = namespace_metadata
    if options.retry is not None:
        r = options.retry
        policy["retry"] = {"limit": r.limit, "backoff": {"duration": r.duration, "factor": r.factor,
                                                          "maxDuration": r.max_duration}}
    return policy


# --- Config Sync ----------------------------------------------------------------------------------------------

def _rootsync(inv: Inventory, cluster: Cluster, role_refs: list[RoleRef]) -> dict[str, Any]:
    cs = cluster.config_sync
    git: dict[str, Any] = {"repo": inv.repository.url, "revision": inv.repository.revision_of(cluster),
                           "dir": f"{CLUSTERS_DIR}/{cluster.name}", "auth": cs.auth}
    if cs.secret_ref:
        git["secretRef"] = {"name": cs.secret_ref}
    if cs.gcp_service_account_email:
        git["gcpServiceAccountEmail"] = cs.gcp_service_account_email
    if cs.ca_cert_secret_ref:
        git["caCertSecretRef"] = {"name": cs.ca_cert_secret_ref}
    if cs.proxy:
        git["proxy"] = cs.proxy
    if cs.period:
        git["period"] = cs.period
    override: dict[str, Any] = {"roleRefs": [r.as_dict() for r in role_refs]}
    if cs.override.resources:
        override["resources"] = list(cs.override.resources)
    if cs.override.log_levels:
        override["logLevels"] = list(cs.override.log_levels)
    return {
        "apiVersion": "configsync.gke.io/v1beta1",
        "kind": "RootSync",
        "metadata": {"name": cs.root_sync_name, "namespace": ROOTSYNC_NAMESPACE},
        "spec": {"sourceFormat": "unstructured", "sourceType": "git", "git": git, "override": override},
    }


def role_names(cluster: Cluster) -> tuple[str, str]:
    """(cluster-wide, per-namespace) names of the ClusterRoles derived for a Config Sync cluster."""
    name = cluster.config_sync.root_sync_name
    return f"{name}-reconciler", f"{name}-reconciler-namespaced"


def _rules(by_group: dict[str, set[str]], verbs: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"apiGroups": [group], "resources": sorted(res), "verbs": list(verbs)}
            for group, res in sorted(by_group.items())]


def derived_roles(cluster: Cluster, resources: list[Resource], kinds: Scopes) -> tuple[list[RoleRef], list[dict[str, Any]]]:
    """(roleRefs, ClusterRoles) that let Config Sync's root reconciler apply exactly what the folder holds.

    The reconciler watches every kind it applies across the whole cluster (Config Sync's remediator lists and
    watches at cluster scope for a RootSync), so reading is granted cluster-wide; writing is granted cluster-wide
    only for the cluster-scoped kinds, and for the namespaced ones by a RoleBinding in each namespace the folder
    writes to. Config Sync binds its own base role (RootSync status, ResourceGroups, CRD reads) besides these.
    The cluster-wide role is rendered even for an empty folder: empty roleRefs would mean cluster-admin."""
    read: dict[str, set[str]] = defaultdict(set)
    cluster_write: dict[str, set[str]] = defaultdict(set)
    namespaced_write: dict[str, set[str]] = defaultdict(set)
    namespaces: set[str] = set()
    for r in resources:
        resource = kinds.resource(r.group, r.kind)
        read[r.group].add(resource)
        if kinds.cluster_scoped(r.group, r.kind):
            cluster_write[r.group].add(resource)
        else:
            namespaced_write[r.group].add(resource)
            namespaces.add(r.namespace or "default")
    wide, per_namespace = role_names(cluster)
    roles = [_cluster_role(wide, _rules(read, READ_VERBS) + _rules(cluster_write, WRITE_VERBS))]
    refs = [RoleRef("ClusterRole", wide)]
    if namespaced_write:
        roles.append(_cluster_role(per_namespace, _rules(namespaced_write, WRITE_VERBS)))
        refs += [RoleRef("ClusterRole", per_namespace, ns) for ns in sorted(namespaces)]
    return refs, roles


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": rules}


def rootsync_path(cluster: Cluster) -> str:
    return f"{BOOTSTRAP_DIR}/config-sync/{cluster.name}/rootsync-{cluster.config_sync.root_sync_name}.yaml"


def config_sync_dir(cluster: str) -> str:
    return f"{BOOTSTRAP_DIR}/config-sync/{cluster}/"


def argocd_objects(inv: Inventory) -> dict[str, Resource]:
    """{repository path: Resource} of the Argo CD objects (the inventory's alone), in Argo CD's cluster."""
    out: dict[str, Resource] = {}
    if inv.argocd is not None and any(c.sync == "argocd" for c in inv.clusters):
        for body in _argocd(inv):
            path = f"{BOOTSTRAP_DIR}/argocd/{body['kind'].lower()}-{body['metadata']['name']}.yaml"
            out[path] = Resource(inv.argocd.cluster, body, origin=path)
    return out


def config_sync_objects(inv: Inventory, cluster: Cluster, resources: list[Resource],
                        kinds: Scopes) -> dict[str, Resource]:
    """{repository path: Resource} of a Config Sync cluster's RootSync and derived roles (from its objects)."""
    refs: list[RoleRef] = list(cluster.config_sync.role_refs or ())
    roles: list[dict[str, Any]] = []
    if cluster.config_sync.role_refs is None:
        refs, roles = derived_roles(cluster, resources, kinds)
    out = {rootsync_path(cluster): Resource(cluster.name, _rootsync(inv, cluster, refs), origin=rootsync_path(cluster))}
    for body in roles:
        path = f"{config_sync_dir(cluster.name)}clusterrole-{body['metadata']['name']}.yaml"
        out[path] = Resource(cluster.name, body, origin=path)
    return out


def objects(inv: Inventory, resources: dict[str, list[Resource]], kinds: Scopes) -> dict[str, Resource]:
    """{repository path: Resource} of every bootstrap object of the clusters in `resources` (and Argo CD's), each
    in the cluster it is applied to, its origin that path."""
    out = argocd_objects(inv)
    for c in inv.clusters:
        if c.sync == "config-sync" and c.name in resources:
            out |= config_sync_objects(inv, c, resources[c.name], kinds)
    return out


def owner(inv: Inventory, rel: str) -> str | None:
    """The cluster whose sync engine applies bootstrap file `rel`: Argo CD's host cluster for bootstrap/argocd/,
    the named cluster for bootstrap/config-sync/<cluster>/."""
    parts = rel.split("/")
    if parts[0] != BOOTSTRAP_DIR:
        return None
    if len(parts) >= 3 and parts[1] == "argocd" and inv.argocd is not None:
        return inv.argocd.cluster
    if len(parts) >= 4 and parts[1] == "config-sync":
        return parts[2]
    return None
