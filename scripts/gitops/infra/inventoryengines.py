"""Reading the inventory's sync-engine settings strictly (issue 23): waves, labels and per-wave revisions, the
Argo CD Application and AppProject settings, the RootSync's auth, CA, proxy, period, roles and overrides.

Each block is read against a shape (infra/shapes.py) that mirrors the field of the engine's object; an unknown
key, a wrong type or a value the engine would refuse is an error at its line. The shapes accept only fields
the pinned Argo CD (v3.2.11) knows: a field of a newer CRD that v3.2.11 would drop is refused, not kept.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from gitops.infra import shapes, yamlsrc
from gitops.infra.shapes import Bool, Int, ListOf, MapOf, Obj, OneOf, Str
from gitops.infra.yamlsrc import Fields
from gitops.model.engines import ApplicationSettings, ProjectSettings, RoleRef, RootSyncOverride
from gitops.model.names import DNS_LABEL, DNS_SUBDOMAIN, LABEL_KEY, LABEL_VALUE

_INT = "tag:yaml.org,2002:int"
MAX_WAVE = 1000
# Go durations (time.ParseDuration), as Argo CD's sync windows and Config Sync's period are read.
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
# A Kubernetes quantity, as the RootSync CRD's override.resources fields state it.
QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                      r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
PERCENT = re.compile(r"^(100|[1-9]?[0-9])%$")
CRON = re.compile(r"^\S+( +\S+){4}$")  # five fields: Argo CD reads sync window schedules as standard cron
PROXY = re.compile(r"^https?://\S+$")
ROLE_NAME = re.compile(r"^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$")  # Argo CD's project role names
# Config Sync's reconciler containers (the RootSync CRD's pattern for override.resources and logLevels).
CONTAINERS = ("reconciler", "git-sync", "hydration-controller", "oci-sync", "helm-sync", "gcenode-askpass-sidecar",
              "otel-agent")

TEXT = Str()
ANY_TEXT = Str(empty=True)
TEXTS = ListOf(TEXT)
LABELS = MapOf(Str(LABEL_KEY, hint="a label key (prefix/name)"), Str(LABEL_VALUE, empty=True, hint="a label value"))
ANNOTATIONS = MapOf(Str(LABEL_KEY, hint="an annotation key (prefix/name)"), ANY_TEXT)
GROUP_KIND = Obj({"group": ANY_TEXT, "kind": TEXT}, ("group", "kind"), "a {group, kind} entry")
QUANTITY_VALUE = OneOf((Int(0), Str(QUANTITY)), "a quantity such as 500m, 1, 256Mi")

# --- Argo CD (the shapes follow v3.2.11's types, within the locked CRDs) --------------------------------------

IGNORE_DIFFERENCE = Obj({"group": ANY_TEXT, "kind": TEXT, "name": TEXT, "namespace": TEXT, "jsonPointers": TEXTS,
                         "jqPathExpressions": TEXTS, "managedFieldsManagers": TEXTS}, ("kind",),
                        "an ignoreDifferences entry")
MANAGED_NAMESPACE_METADATA = Obj({"labels": LABELS, "annotations": ANNOTATIONS}, (), "'managedNamespaceMetadata'")
APPLICATION = Obj({"labels": LABELS, "annotations": ANNOTATIONS, "ignoreDifferences": ListOf(IGNORE_DIFFERENCE),
                   "revisionHistoryLimit": Int(0), "managedNamespaceMetadata": MANAGED_NAMESPACE_METADATA},
                  (), "'argocd.application'")
ROLE = Obj({"name": Str(ROLE_NAME, hint="a role name (letters, digits, '-', '_')"), "description": TEXT,
            "policies": TEXTS, "groups": TEXTS}, ("name",), "an AppProject role")
SYNC_WINDOW = Obj({"kind": Str(choices=("allow", "deny")), "schedule": Str(CRON, hint="a five-field cron schedule"),
                   "duration": Str(GO_DURATION, hint="a duration such as 1h or 30m"), "applications": TEXTS,
                   "namespaces": TEXTS, "clusters": TEXTS, "manualSync": Bool(), "timeZone": TEXT,
                   "andOperator": Bool(), "description": TEXT}, ("kind", "schedule", "duration"), "a sync window")
ORPHANED = Obj({"warn": Bool(), "ignore": ListOf(Obj({"group": ANY_TEXT, "kind": TEXT, "name": TEXT}, (),
                                                     "an orphanedResources.ignore entry"))},
               (), "'orphanedResources'")
DESTINATION_SA = Obj({"server": TEXT, "namespace": TEXT, "defaultServiceAccount": TEXT},
                     ("server", "defaultServiceAccount"), "a destinationServiceAccounts entry")
APP_PROJECT = Obj({"namespaceResourceBlacklist": ListOf(GROUP_KIND), "namespaceResourceWhitelist": ListOf(GROUP_KIND),
                   "roles": ListOf(ROLE), "syncWindows": ListOf(SYNC_WINDOW), "orphanedResources": ORPHANED,
                   "sourceNamespaces": ListOf(Str(DNS_LABEL, hint="a namespace name")),
                   "destinationServiceAccounts": ListOf(DESTINATION_SA)}, (), "'argocd.appProject'")

# --- Config Sync (the RootSync CRD's v1beta1 fields) -----------------------------------------------------------

ROLE_REF = Obj({"kind": Str(choices=("ClusterRole", "Role")), "name": TEXT, "namespace": Str(DNS_LABEL)},
               ("kind", "name"), "a roleRefs entry")
CONTAINER = Str(choices=CONTAINERS)
RESOURCES_OVERRIDE = Obj({"containerName": CONTAINER, "cpuRequest": QUANTITY_VALUE, "cpuLimit": QUANTITY_VALUE,
                          "memoryRequest": QUANTITY_VALUE, "memoryLimit": QUANTITY_VALUE}, ("containerName",),
                         "an override.resources entry")
LOG_LEVEL = Obj({"containerName": CONTAINER, "logLevel": Int(0, 10)}, ("containerName", "logLevel"),
                "an override.logLevels entry")
OVERRIDE = Obj({"resources": ListOf(RESOURCES_OVERRIDE), "logLevels": ListOf(LOG_LEVEL)}, (), "'configSync.override'")
CONFIG_SYNC_FIELDS = ("caCertSecretRef", "proxy", "period", "roleRefs", "override")


def _wave_key(key: yaml.Node, fields: Fields, what: str) -> int:
    if not isinstance(key, yaml.ScalarNode) or key.tag != _INT or not 0 <= int(yamlsrc.construct(key)) <= MAX_WAVE:
        raise fields.fail(f"a key of {what} must be a wave: a whole number from 0 to {MAX_WAVE}", key)
    return int(yamlsrc.construct(key))


def _by_wave(fields: Fields, key: str, value: shapes.Shape, what: str) -> dict[int, Any]:
    node = fields.get(key, required=False)
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise fields.fail(f"{what} must map waves to values, e.g. {{1: ...}}", node)
    return {_wave_key(k, fields, what): shapes.read(v, value, fields.file, f"{what}[{k.value}]") for k, v in node.value}


# --- the entry points inventoryfile.load calls ------------------------------------------------------------------

def wave(fields: Fields) -> int | None:
    """A cluster's `wave:` (None when not given)."""
    node = fields.get("wave", required=False)
    return None if node is None else shapes.read(node, Int(0, MAX_WAVE), fields.file, "'wave'")


def labels(fields: Fields) -> dict[str, str]:
    """A cluster's `labels:` for its Argo CD Application."""
    node = fields.get("labels", required=False)
    return {} if node is None else shapes.read(node, LABELS, fields.file, "'labels'")


def revisions(fields: Fields) -> dict[int, str]:
    """repository.revisions: {wave: ref}."""
    return _by_wave(fields, "revisions", TEXT, "'repository.revisions'")


def max_update(fields: Fields) -> dict[int, int | str]:
    """argocd.maxUpdate: {wave: count or percent} for the wave's RollingSync step."""
    return _by_wave(fields, "maxUpdate", OneOf((Int(0), Str(PERCENT)), "a whole number or a percentage (25%)"),
                    "'argocd.maxUpdate'")


def application(fields: Fields) -> tuple[ApplicationSettings, yaml.Node | None]:
    """argocd.application (and its node, for errors that need the whole inventory)."""
    node = fields.get("application", required=False)
    if node is None:
        return ApplicationSettings(), None
    a = shapes.read(node, APPLICATION, fields.file, "'argocd.application'")
    return ApplicationSettings(a.get("labels", {}), a.get("annotations", {}), tuple(a.get("ignoreDifferences", ())),
                               a.get("revisionHistoryLimit"), a.get("managedNamespaceMetadata")), node


def app_project(fields: Fields) -> ProjectSettings:
    node = fields.get("appProject", required=False)
    if node is None:
        return ProjectSettings()
    p = shapes.read(node, APP_PROJECT, fields.file, "'argocd.appProject'")
    white = p.get("namespaceResourceWhitelist")
    return ProjectSettings(tuple(p.get("namespaceResourceBlacklist", ())), None if white is None else tuple(white),
                           tuple(p.get("roles", ())), tuple(p.get("syncWindows", ())), p.get("orphanedResources"),
                           tuple(p.get("sourceNamespaces", ())), tuple(p.get("destinationServiceAccounts", ())))


def config_sync(fields: Fields, auth: str, proxy_auths: tuple[str, ...]) -> dict[str, Any]:
    """The RootSync settings beyond auth: {ca_cert_secret_ref, proxy, period, role_refs, override} for ConfigSync."""
    ca = fields.string("caCertSecretRef", required=False, pattern=DNS_SUBDOMAIN) or None
    if ca is not None and auth == "ssh":
        raise fields.fail("caCertSecretRef is for HTTPS repositories; auth ssh takes none", fields.get("caCertSecretRef"))
    proxy = fields.string("proxy", required=False, pattern=PROXY) or None
    if proxy is not None and auth not in proxy_auths:
        raise fields.fail(f"proxy has an effect only with auth {', '.join(proxy_auths)} (Config Sync), not {auth}",
                          fields.get("proxy"))
    period = fields.string("period", required=False, pattern=GO_DURATION) or None
    refs_node = fields.get("roleRefs", required=False)
    role_refs = None
    if refs_node is not None:
        refs = shapes.read(refs_node, ListOf(ROLE_REF, min_items=1), fields.file, "'configSync.roleRefs'")
        for node, ref in zip(refs_node.value, refs):
            if ref["kind"] == "Role" and not ref.get("namespace"):
                raise fields.fail("a roleRefs entry of kind Role needs the namespace of the Role", node)
        role_refs = tuple(RoleRef(r["kind"], r["name"], r.get("namespace", "")) for r in refs)
    override_node = fields.get("override", required=False)
    override = RootSyncOverride()
    if override_node is not None:
        o = shapes.read(override_node, OVERRIDE, fields.file, "'configSync.override'")
        override = RootSyncOverride(tuple(o.get("resources", ())), tuple(o.get("logLevels", ())))
    return {"ca_cert_secret_ref": ca, "proxy": proxy, "period": period, "role_refs": role_refs, "override": override}
