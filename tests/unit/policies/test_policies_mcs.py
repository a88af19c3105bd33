"""Cross-cluster Multi-Cluster Services policies, against the real kustomize build of a repo copy.

Each case breaks the caller (cluster-1) / producer (cluster-2) pair with a small edit, and checks one
message word for word and the file and line a person would edit. That the unmodified repository is
quiet for every rule is checked for the whole registry in test_cli.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Case, assert_fires, edit, run_policies, run_policy, snippet_line
from gitops.model.findings import Severity, SourceLocation
from gitops.model.rules import Policy
from gitops.model import calls as _resolve
from policies import (mcs_clusterset_name_form, mcs_clusterset_url_resolves, mcs_export_api_version, mcs_export_consistent, mcs_export_has_service, mcs_export_system_namespace, mcs_export_unnamed_port, mcs_fleet_size, mcs_handwritten_serviceimport, mcs_local_name_not_served, mcs_namespace_sameness, mcs_no_committed_status)

POLICIES: tuple[Policy, ...] = (
    mcs_export_has_service.POLICY, mcs_export_api_version.POLICY, mcs_clusterset_url_resolves.POLICY,
    mcs_local_name_not_served.POLICY, mcs_namespace_sameness.POLICY, mcs_export_consistent.POLICY,
    mcs_clusterset_name_form.POLICY, mcs_no_committed_status.POLICY, mcs_handwritten_serviceimport.POLICY,
    mcs_export_system_namespace.POLICY, mcs_export_unnamed_port.POLICY, mcs_fleet_size.POLICY,
)

URL_FILE = "overlays/cluster-1/producer-url.yaml"
URL = "http://sample-producer.istio-apps.svc.clusterset.local:8080"
C1_KUST = "overlays/cluster-1/kustomization.yaml"
C2_KUST = "overlays/cluster-2/kustomization.yaml"
EXPORT = "components/export-gke/serviceexport.yaml"
SERVICE = "base/producer/service.yaml"
CONFIGMAP = "cluster-1 ConfigMap istio-apps/sample-caller-config"
CALLER = "cluster-1 Deployment istio-apps/sample-caller-v1"
EXPORT_C2 = "cluster-2 ServiceExport istio-apps/sample-producer"
NS_C1 = "  - ../../base/namespace\n"
NO_EXPORT = ("  - ../../components/export-gke\n", "")


def url(new: str) -> tuple[str, str, str]:
    """An edit of the caller's PRODUCER_URL."""
    return (URL_FILE, URL, new)


def patch_in(kustomization: str, patch: str) -> tuple[str, str, str]:
    """An edit listing one more strategic-merge patch in an overlay (cluster-2 has no patches list yet)."""
    if kustomization == C1_KUST:
        return (C1_KUST, "patches:\n", f"patches:\n  - path: {patch}\n")
    return (kustomization, "components:\n", f"patches:\n  - path: {patch}\ncomponents:\n")


CALLER_ENV = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sample-caller-v1
  namespace: istio-apps
spec:
  template:
    spec:
      containers:
        - name: sample-caller
          env:
            - name: PRODUCER_GRPC
              value: sample-producer.istio-apps.svc.clusterset.local:9000
"""

NAMESPACE_LABEL = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-apps
  labels:
    istio-injection: disabled
"""

AFFINITY = """\
apiVersion: v1
kind: Service
metadata:
  name: sample-producer
  namespace: istio-apps
spec:
  sessionAffinity: ClientIP
"""

APP_PROTOCOL = """\
apiVersion: v1
kind: Service
metadata:
  name: sample-producer
  namespace: istio-apps
spec:
  ports:
    - port: 8080
      protocol: TCP  # strategic merge matches Service ports on port and protocol
      appProtocol: http
"""

EXPORTED_LABELS = """\
apiVersion: net.gke.io/v1
kind: ServiceExport
metadata:
  name: sample-producer
  namespace: istio-apps
spec:
  exportedLabels:
    team: producers
"""

SERVICE_IMPORT = """\
apiVersion: net.gke.io/v1
kind: ServiceImport
metadata:
  name: sample-producer
  namespace: istio-apps
spec:
  type: ClusterSetIP
  ports:
    - port: 8080
      protocol: TCP
"""

DEFAULT_EXPORT = """\
apiVersion: v1
kind: Service
metadata:
  name: metrics
  namespace: default
spec:
  selector:
    app: sample-producer
  ports:
    - name: http
      port: 9090
---
apiVersion: net.gke.io/v1
kind: ServiceExport
metadata:
  name: metrics
  namespace: default
"""

# cluster-1 runs and exports the producer as well: two exports of one Service.
BOTH_EXPORT = (C1_KUST, "  - httproute.yaml\n",
               "  - httproute.yaml\n  - ../../base/producer\ncomponents:\n  - ../../components/export-gke\n")




CASES = (
    Case("export-without-service", mcs_export_has_service.POLICY,
         ((EXPORT, "name: sample-producer", "name: sample-produce"),),
         "cluster-2 ServiceExport istio-apps/sample-produce exports Service istio-apps/sample-produce, which does "
         "not exist in cluster-2; did you mean sample-producer?", EXPORT, "name: sample-produce"),
    Case("export-externalname", mcs_export_has_service.POLICY,
         ((SERVICE, "spec:\n  selector:", "spec:\n  type: ExternalName\n  externalName: p.example.com\n  selector:"),),
         "cluster-2 Service istio-apps/sample-producer is exported by a ServiceExport but is type ExternalName, "
         "which MCS cannot export (it has no endpoints)", SERVICE, "type: ExternalName"),
    Case("api-version-flavour", mcs_export_api_version.POLICY,
         (("inventory.yaml", "mcs: gke\n    sync: config-sync", "mcs: mcs-api\n    sync: config-sync"),),
         f"{EXPORT_C2} uses apiVersion net.gke.io/v1, but cluster-2 runs MCS flavour mcs-api (inventory.yaml), "
         "which serves multicluster.x-k8s.io/v1alpha1 or multicluster.x-k8s.io/v1beta1", EXPORT, "apiVersion"),
    Case("api-version-kep", mcs_export_api_version.POLICY,
         ((EXPORT, "net.gke.io/v1", "multicluster.k8s.io/v1alpha1"),),
         f"{EXPORT_C2} uses apiVersion multicluster.k8s.io/v1alpha1, the MCS KEP's example group, which no MCS "
         "implementation serves; cluster-2 runs MCS flavour gke (inventory.yaml): use net.gke.io/v1",
         EXPORT, "apiVersion"),
    Case("url-typo", mcs_clusterset_url_resolves.POLICY,
         (url("http://sample-produce.istio-apps.svc.clusterset.local:8080"),),
         f"{CONFIGMAP} calls http://sample-produce.istio-apps.svc.clusterset.local:8080, but no cluster in "
         "clusterset fleet-prod exports istio-apps/sample-produce; did you mean sample-producer?",
         URL_FILE, "PRODUCER_URL"),
    Case("url-not-exported", mcs_clusterset_url_resolves.POLICY,
         ((C2_KUST, *NO_EXPORT),),
         f"{CONFIGMAP} calls {URL}, but no cluster in clusterset fleet-prod exports istio-apps/sample-producer; "
         "cluster-2 has Service istio-apps/sample-producer but no ServiceExport", URL_FILE, "PRODUCER_URL"),
    Case("url-port", mcs_clusterset_url_resolves.POLICY,
         (url("http://sample-producer.istio-apps.svc.clusterset.local:9090/api"),),
         f"{CONFIGMAP} calls http://sample-producer.istio-apps.svc.clusterset.local:9090/api, but port 9090 is not "
         "a port of the exported Service istio-apps/sample-producer; exported ports are 8080",
         URL_FILE, "PRODUCER_URL"),
    Case("url-default-port", mcs_clusterset_url_resolves.POLICY,
         (url("https://sample-producer.istio-apps.svc.clusterset.local"),),
         f"{CONFIGMAP} calls https://sample-producer.istio-apps.svc.clusterset.local, but port 443 is not "
         "a port of the exported Service istio-apps/sample-producer; exported ports are 8080",
         URL_FILE, "PRODUCER_URL"),
    Case("url-namespace-missing", mcs_clusterset_url_resolves.POLICY,
         ((C1_KUST, NS_C1, ""),),
         f"{CONFIGMAP} calls {URL}, but namespace istio-apps does not exist in cluster-1; MCS imports "
         "istio-apps/sample-producer only into clusters that have the namespace", URL_FILE, "PRODUCER_URL"),
    Case("url-container-env", mcs_clusterset_url_resolves.POLICY,
         (patch_in(C1_KUST, "caller-env.yaml"),),
         f"{CALLER} calls sample-producer.istio-apps.svc.clusterset.local:9000, but port 9000 is not a port of "
         "the exported Service istio-apps/sample-producer; exported ports are 8080",
         "overlays/cluster-1/caller-env.yaml", "value:", writes=(("overlays/cluster-1/caller-env.yaml", CALLER_ENV),)),
    Case("url-route-backend", mcs_clusterset_url_resolves.POLICY,
         (("overlays/cluster-1/httproute.yaml", "- name: sample-caller\n          port: 8080",
           "- name: sample-producer.istio-apps.svc.clusterset.local\n          port: 9090"),),
         "cluster-1 HTTPRoute istio-apps/sample-caller-ui calls sample-producer.istio-apps.svc.clusterset.local:9090, "
         "but port 9090 is not a port of the exported Service istio-apps/sample-producer; exported ports are 8080",
         "overlays/cluster-1/httproute.yaml", "- name: sample-producer"),
    Case("local-name-exported", mcs_local_name_not_served.POLICY,
         (url("http://sample-producer.istio-apps.svc.cluster.local:8080"),),
         f"{CONFIGMAP} calls http://sample-producer.istio-apps.svc.cluster.local:8080, but no Service "
         "istio-apps/sample-producer exists in cluster-1, so the name does not resolve there; cluster-2 has "
         f"Service istio-apps/sample-producer and exports it: use {URL}", URL_FILE, "PRODUCER_URL"),
    Case("local-name-unexported", mcs_local_name_not_served.POLICY,
         (url("http://sample-producer.istio-apps.svc:8080/ping"), (C2_KUST, *NO_EXPORT)),
         f"{CONFIGMAP} calls http://sample-producer.istio-apps.svc:8080/ping, but no Service "
         "istio-apps/sample-producer exists in cluster-1, so the name does not resolve there; cluster-2 has "
         "Service istio-apps/sample-producer but does not export it (add a ServiceExport there): "
         f"use {URL}/ping", URL_FILE, "PRODUCER_URL"),
    Case("local-name-from-base", mcs_local_name_not_served.POLICY,
         ((C1_KUST, "patches:\n  - path: producer-url.yaml\n", ""),),
         f"{CONFIGMAP} calls http://sample-producer.istio-apps.svc.cluster.local:8080, but no Service "
         "istio-apps/sample-producer exists in cluster-1, so the name does not resolve there; cluster-2 has "
         f"Service istio-apps/sample-producer and exports it: use {URL}",
         "base/caller/configmap.yaml", "PRODUCER_URL"),
    Case("namespace-missing-exporter", mcs_namespace_sameness.POLICY,
         ((C2_KUST, NS_C1, ""),),
         f"{EXPORT_C2} exports from namespace istio-apps, but cluster-2 has no Namespace istio-apps; namespace "
         "sameness needs it in every cluster that exports or calls into istio-apps (it exists in cluster-1)",
         EXPORT, "namespace: istio-apps"),
    Case("namespace-missing-caller", mcs_namespace_sameness.POLICY,
         ((C1_KUST, NS_C1, ""),),
         f"{CONFIGMAP} calls {URL}, but cluster-1 has no Namespace istio-apps; namespace sameness needs it in "
         "every cluster that exports or calls into istio-apps (it exists in cluster-2)", URL_FILE, "PRODUCER_URL"),
    Case("namespace-labels", mcs_namespace_sameness.POLICY,
         (patch_in(C2_KUST, "namespace-label.yaml"),),
         "Namespace istio-apps has istio-injection=disabled in cluster-2 but istio-injection=enabled in cluster-1; "
         "clusters of clusterset fleet-prod that export or call into istio-apps should label it alike",
         "overlays/cluster-2/namespace-label.yaml", "istio-injection",
         writes=(("overlays/cluster-2/namespace-label.yaml", NAMESPACE_LABEL),), severity=Severity.WARNING),
    Case("consistent-affinity", mcs_export_consistent.POLICY,
         (BOTH_EXPORT, patch_in(C2_KUST, "affinity.yaml")),
         "istio-apps/sample-producer is exported from cluster-1 and cluster-2 with different Service "
         "spec.sessionAffinity: cluster-1 has None, cluster-2 has ClientIP",
         "overlays/cluster-2/affinity.yaml", "sessionAffinity", writes=(("overlays/cluster-2/affinity.yaml", AFFINITY),)),
    Case("consistent-ports", mcs_export_consistent.POLICY,
         (BOTH_EXPORT, patch_in(C2_KUST, "app-protocol.yaml")),
         "istio-apps/sample-producer is exported from cluster-1 and cluster-2 with different ports: cluster-1 has "
         "http 8080/TCP, cluster-2 has http 8080/TCP (http)",
         "overlays/cluster-2/app-protocol.yaml", "ports:", writes=(("overlays/cluster-2/app-protocol.yaml", APP_PROTOCOL),)),
    Case("consistent-exported-labels", mcs_export_consistent.POLICY,
         (BOTH_EXPORT, patch_in(C2_KUST, "exported-labels.yaml")),
         "istio-apps/sample-producer is exported from cluster-1 and cluster-2 with different ServiceExport "
         "spec.exportedLabels: cluster-1 has (unset), cluster-2 has {team=producers}",
         "overlays/cluster-2/exported-labels.yaml", "exportedLabels",
         writes=(("overlays/cluster-2/exported-labels.yaml", EXPORTED_LABELS),)),
    Case("consistent-duplicate-port", mcs_export_consistent.POLICY,
         ((SERVICE, "      targetPort: http\n", "      targetPort: http\n    - name: admin\n      port: 8080\n"),),
         "cluster-2 Service istio-apps/sample-producer is exported but declares port 8080/TCP twice",
         SERVICE, "name: admin\n      port: 8080"),
    Case("name-form-clusterid", mcs_clusterset_name_form.POLICY,
         (url("http://cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080"),),
         f"{CONFIGMAP} calls http://cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080, but cluster-2 "
         "is a cluster, and MCS serves no per-cluster Service names; use "
         "sample-producer.istio-apps.svc.clusterset.local", URL_FILE, "PRODUCER_URL"),
    Case("name-form-pod-not-headless", mcs_clusterset_name_form.POLICY,
         (url("http://pod-0.cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080"),),
         f"{CONFIGMAP} calls http://pod-0.cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080, but "
         "per-pod names exist only for headless exports, and istio-apps/sample-producer exported from cluster-2 "
         "is not headless (clusterIP is not None); use sample-producer.istio-apps.svc.clusterset.local",
         URL_FILE, "PRODUCER_URL"),
    Case("name-form-unknown", mcs_clusterset_name_form.POLICY,
         (url("http://v1.sample-producer.istio-apps.svc.clusterset.local:8080"),),
         f"{CONFIGMAP} calls http://v1.sample-producer.istio-apps.svc.clusterset.local:8080, but "
         "v1.sample-producer.istio-apps.svc.clusterset.local is not a clusterset.local name MCS serves "
         "(<svc>.<ns>.svc.clusterset.local, or <hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local for a "
         "headless export)", URL_FILE, "PRODUCER_URL"),
    Case("name-form-long-label", mcs_clusterset_name_form.POLICY,
         (url(f"http://{'p' * 64}.istio-apps.svc.clusterset.local:8080"),),
         f"{CONFIGMAP} calls http://{'p' * 64}.istio-apps.svc.clusterset.local:8080, but label {'p' * 64} is "
         "64 characters; DNS allows at most 63", URL_FILE, "PRODUCER_URL"),
    Case("status-committed", mcs_no_committed_status.POLICY,
         ((EXPORT, "  namespace: istio-apps\n", "  namespace: istio-apps\nstatus:\n  conditions: []\n"),),
         f"{EXPORT_C2} commits a status; the MCS controller writes it (conditions, ports, IPs)", EXPORT, "status:"),
    Case("serviceimport", mcs_handwritten_serviceimport.POLICY,
         ((C1_KUST, "  - httproute.yaml\n", "  - httproute.yaml\n  - serviceimport.yaml\n"),),
         "cluster-1 ServiceImport istio-apps/sample-producer is written by hand; the MCS controller creates "
         "ServiceImports from the clusterset's ServiceExports (cluster-2 exports it)",
         "overlays/cluster-1/serviceimport.yaml", "kind:",
         writes=(("overlays/cluster-1/serviceimport.yaml", SERVICE_IMPORT),)),
    Case("system-namespace", mcs_export_system_namespace.POLICY,
         ((C2_KUST, "  - ../../base/producer\n", "  - ../../base/producer\n  - default-export.yaml\n"),),
         "cluster-2 ServiceExport default/metrics exports from namespace default, which exists in every cluster; "
         "by namespace sameness any cluster can export a Service of that name into it",
         "overlays/cluster-2/default-export.yaml", "kind: ServiceExport\nmetadata:\n  name: metrics\n  namespace",
         writes=(("overlays/cluster-2/default-export.yaml", DEFAULT_EXPORT),)),
    Case("unnamed-port", mcs_export_unnamed_port.POLICY,
         ((SERVICE, "    - name: http\n      protocol: TCP", "    - protocol: TCP"),),
         "cluster-2 Service istio-apps/sample-producer is exported but port 8080/TCP has no name, so "
         "clusterset.local DNS publishes no SRV record for it", SERVICE, "protocol: TCP"),
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_fires_on_a_small_edit(repo: Path, case: Case) -> None:
    assert_fires(repo, case)




def test_upstream_mcs_api_cluster_with_its_component_is_quiet(repo: Path) -> None:
    edit(repo, "inventory.yaml", "mcs: gke\n    sync: config-sync", "mcs: mcs-api\n    sync: config-sync")
    edit(repo, C2_KUST, "components/export-gke", "components/export-mcs-api")
    assert run_policies(repo, POLICIES) == []


def test_pod_names_of_a_headless_export_are_allowed(repo: Path) -> None:
    edit(repo, SERVICE, "spec:\n  selector:", "spec:\n  clusterIP: None\n  selector:")
    edit(repo, URL_FILE, URL, "http://pod-0.cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080")
    assert run_policy(repo, mcs_clusterset_name_form.POLICY) == []


def test_identical_exports_from_two_clusters_are_consistent(repo: Path) -> None:
    edit(repo, *BOTH_EXPORT)
    assert run_policy(repo, mcs_export_consistent.POLICY) == []


def test_gke_clusterset_over_fifty_clusters(repo: Path) -> None:
    """The finding is about the clusterset, so it points at its first cluster in the inventory."""
    extra = "".join(f"  - name: extra-{i}\n    clusterset: fleet-prod\n    location: us-east1\n"
                    f"    kubernetesVersion: \"1.33\"\n    mcs: gke\n    sync: config-sync\n"
                    f"    overlay: overlays/cluster-2\n" for i in range(49))
    inventory = repo / "inventory.yaml"
    inventory.write_text(inventory.read_text() + extra)
    findings = run_policy(repo, mcs_fleet_size.POLICY)
    assert [(f.message, f.cluster, f.obj, f.field_path) for f in findings] == [(
        "clusterset fleet-prod has 51 GKE clusters; GKE multi-cluster Services supports at most 50 clusters "
        "per fleet", "cluster-1", None, None)]
    assert findings[0].location == SourceLocation("inventory.yaml", snippet_line(repo, "inventory.yaml", "name: cluster-1"))


@pytest.mark.parametrize(("text", "found"), [
    (URL, [(URL, "sample-producer.istio-apps.svc.clusterset.local", "http", 8080)]),
    ("grpc://a.b.svc.clusterset.local/x.Svc", [("grpc://a.b.svc.clusterset.local/x.Svc",
                                               "a.b.svc.clusterset.local", "grpc", None)]),
    ("--upstream=A.B.svc:9000,c.d.svc.", [("A.B.svc:9000", "a.b.svc", None, 9000), ("c.d.svc.", "c.d.svc", None, None)]),
    ("https://user:pw@a.b.svc.cluster.local:8443/p?q=1 done",
     [("https://user:pw@a.b.svc.cluster.local:8443/p?q=1", "a.b.svc.cluster.local", "https", 8443)]),
    ("no hosts here, just words", []),
])
def test_hosts_in(text: str, found: list[tuple[str, str, str | None, int | None]]) -> None:
    assert [(h.text, h.host, h.scheme, h.port) for h in _resolve.hosts_in(text)] == found
