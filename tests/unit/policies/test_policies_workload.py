"""Per-cluster workload and Service policies, against the real kustomize build of a repo copy.

Each case makes one rule fire with a small edit and checks one message word for word and the
file and line a person would edit. That the unmodified repository is quiet for every rule is
checked for the whole registry in test_cli.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Case, assert_fires, edit, run_policy, write
from gitops.model import pods as _k8s
from policies import (deployment_selector_matches, duplicate_object, image_pinned, image_pull_policy, no_default_namespace, no_plain_secret, probe_port_exposed, probes_set, reference_exists, resources_set, route_backend_exists, security_context, service_selects_pods, service_target_port)

CALLER = "base/caller/deployment.yaml"
PRODUCER = "base/producer/deployment.yaml"
IMAGE = "us-docker.pkg.dev/sample/docker-repo/sample-caller"
CALLER_WHO = "cluster-1 Deployment istio-apps/sample-caller-v1"
PRODUCER_WHO = "cluster-2 Deployment istio-apps/sample-producer-v1"

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sample-caller
  namespace: istio-apps
spec:
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: sample-caller
                port:
                  name: web
"""

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: producer-db
type: Opaque
stringData:
  password: hunter2
"""




CASES = (
    Case("image-latest", image_pinned.POLICY,
         ((CALLER, "sample-caller:1.0.0", "sample-caller:latest"),),
         f"{CALLER_WHO} container sample-caller image {IMAGE}:latest uses the floating tag :latest; "
         "pin a version tag or a digest", CALLER, "sample-caller:latest"),
    Case("image-untagged", image_pinned.POLICY,
         ((CALLER, "sample-caller:1.0.0", "sample-caller"),),
         f"{CALLER_WHO} container sample-caller image {IMAGE} has no tag; pin a version tag or a digest",
         CALLER, "image:"),
    Case("pull-ifnotpresent-latest", image_pull_policy.POLICY,
         ((CALLER, "sample-caller:1.0.0", "sample-caller:latest"),),
         f"{CALLER_WHO} container sample-caller: imagePullPolicy IfNotPresent with the floating image "
         f"{IMAGE}:latest keeps whatever build a node pulled first", CALLER, "imagePullPolicy"),
    Case("pull-never", image_pull_policy.POLICY,
         ((PRODUCER, "imagePullPolicy: IfNotPresent", "imagePullPolicy: Never"),),
         f"{PRODUCER_WHO} container sample-producer: imagePullPolicy Never only runs if someone preloaded "
         "the image on every node", PRODUCER, "imagePullPolicy: Never"),
    # A missing field points at the nearest enclosing one that is written down.
    Case("resources-cpu", resources_set.POLICY,
         ((CALLER, "              cpu: 100m\n", ""),),
         f"{CALLER_WHO} container sample-caller sets no resources.requests.cpu", CALLER, "requests:"),
    Case("probes-readiness", probes_set.POLICY,
         ((PRODUCER, "readinessProbe:", "startupProbe:"),),
         f"{PRODUCER_WHO} container sample-producer has no readinessProbe", PRODUCER, "- name: sample-producer"),
    Case("probe-port-number", probe_port_exposed.POLICY,
         ((CALLER, "port: 8080\n            initialDelaySeconds", "port: 8081\n            initialDelaySeconds"),),
         f"{CALLER_WHO} container sample-caller livenessProbe httpGet port 8081 is not a port the container "
         "exposes (it exposes 8080 (http))", CALLER, "port: 8081"),
    Case("probe-port-name", probe_port_exposed.POLICY,
         ((PRODUCER, "readiness\n              port: 8080", "readiness\n              port: web"),),
         f"{PRODUCER_WHO} container sample-producer readinessProbe httpGet port web is not a port the container "
         "exposes (it exposes 8080 (http))", PRODUCER, "port: web"),
    Case("security-readonly-root", security_context.POLICY,
         ((CALLER, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),),
         f"{CALLER_WHO} container sample-caller does not set readOnlyRootFilesystem: true",
         CALLER, "readOnlyRootFilesystem"),
    Case("security-root-user", security_context.POLICY,
         ((CALLER, "runAsNonRoot: true\n        runAsUser: 1000", "runAsUser: 0"),),
         f"{CALLER_WHO} container sample-caller runs as root (runAsUser 0)", CALLER, "runAsUser: 0"),
    Case("security-maybe-root", security_context.POLICY,
         ((CALLER, "        runAsNonRoot: true\n        runAsUser: 1000\n", ""),),
         f"{CALLER_WHO} container sample-caller may run as root: set runAsNonRoot: true or a non-zero runAsUser",
         CALLER, "          securityContext:"),
    Case("security-host-network", security_context.POLICY,
         ((PRODUCER, "automountServiceAccountToken: false",
           "automountServiceAccountToken: false\n      hostNetwork: true"),),
         f"{PRODUCER_WHO} sets hostNetwork: true and shares the node's namespace", PRODUCER, "hostNetwork"),
    Case("selector", deployment_selector_matches.POLICY,
         ((CALLER, "matchLabels:\n      app: sample-caller", "matchLabels:\n      app: sample-callr"),),
         f"{CALLER_WHO} selector app=sample-callr does not match its pod template labels "
         "(app=sample-caller, version=v1)", CALLER, "sample-callr"),
    Case("service-selector", service_selects_pods.POLICY,
         (("base/producer/service.yaml", "selector:\n    app: sample-producer", "selector:\n    app: sample-prod"),),
         "cluster-2 Service istio-apps/sample-producer selects app=sample-prod, but no pod template in cluster-2 "
         "namespace istio-apps has those labels (pod templates there: "
         "Deployment sample-producer-v1 (app=sample-producer, version=v1))",
         "base/producer/service.yaml", "app: sample-prod\n"),
    Case("target-port-name", service_target_port.POLICY,
         (("base/producer/service.yaml", "targetPort: http", "targetPort: web"),),
         "cluster-2 Service istio-apps/sample-producer port http targets web, but the pods it selects "
         "(Deployment sample-producer-v1) expose 8080 (http)", "base/producer/service.yaml", "targetPort"),
    Case("target-port-number", service_target_port.POLICY,
         (("base/caller/service.yaml", "targetPort: http", "targetPort: 9090"),),
         "cluster-1 Service istio-apps/sample-caller port http targets 9090, but the pods it selects "
         "(Deployment sample-caller-v1) expose 8080 (http)", "base/caller/service.yaml", "targetPort"),
    Case("httproute-name", route_backend_exists.POLICY,
         (("overlays/cluster-1/httproute.yaml", "- name: sample-caller\n", "- name: sample-calle\n"),),
         "cluster-1 HTTPRoute istio-apps/sample-caller-ui routes to Service istio-apps/sample-calle port 8080, "
         "but cluster-1 has no Service istio-apps/sample-calle (Services in istio-apps: sample-caller)",
         "overlays/cluster-1/httproute.yaml", "sample-calle\n"),
    Case("httproute-port", route_backend_exists.POLICY,
         (("overlays/cluster-1/httproute.yaml", "port: 8080", "port: 8081"),),
         "cluster-1 HTTPRoute istio-apps/sample-caller-ui routes to Service istio-apps/sample-caller port 8081, "
         "but Service istio-apps/sample-caller has ports 8080 (http)",
         "overlays/cluster-1/httproute.yaml", "port: 8081"),
    Case("ingress-port-name", route_backend_exists.POLICY,
         (("overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n", "  - httproute.yaml\n  - ingress.yaml\n"),),
         "cluster-1 Ingress istio-apps/sample-caller routes to Service istio-apps/sample-caller port web, "
         "but Service istio-apps/sample-caller has ports 8080 (http)",
         "overlays/cluster-1/ingress.yaml", "name: web", writes=(("overlays/cluster-1/ingress.yaml", INGRESS),)),
    Case("service-account", reference_exists.POLICY,
         ((CALLER, "serviceAccountName: sample-caller-sa", "serviceAccountName: sample-caller"),),
         f"{CALLER_WHO} uses ServiceAccount istio-apps/sample-caller, but cluster-1 has no such ServiceAccount "
         "(ServiceAccounts in istio-apps: sample-caller-sa)", CALLER, "serviceAccountName"),
    Case("configmap", reference_exists.POLICY,
         ((CALLER, "name: sample-caller-config", "name: sample-caller-cfg"),),
         f"{CALLER_WHO} uses ConfigMap istio-apps/sample-caller-cfg, but cluster-1 has no such ConfigMap "
         "(ConfigMaps in istio-apps: sample-caller-config)", CALLER, "sample-caller-cfg"),
    Case("configmap-projected", reference_exists.POLICY,
         ((CALLER, "        - name: tmp\n          emptyDir: {}\n",
           "        - name: tmp\n          emptyDir: {}\n        - name: settings\n          projected:\n"
           "            sources:\n              - configMap:\n                  name: caller-settings\n"),),
         f"{CALLER_WHO} uses ConfigMap istio-apps/caller-settings, but cluster-1 has no such ConfigMap "
         "(ConfigMaps in istio-apps: sample-caller-config)", CALLER, "name: caller-settings"),
    Case("secret", no_plain_secret.POLICY,
         (("base/producer/kustomization.yaml", "  - service.yaml\n", "  - service.yaml\n  - secret.yaml\n"),),
         "cluster-2 Secret istio-apps/producer-db commits stringData (password) to Git in plain text",
         "base/producer/secret.yaml", "password", writes=(("base/producer/secret.yaml", SECRET),)),
    Case("namespace-default", no_default_namespace.POLICY,
         (("overlays/cluster-1/gateway.yaml", "namespace: istio-apps", "namespace: default"),),
         "cluster-1 Gateway default/sample-caller-ui is in namespace default; give it its application's namespace",
         "overlays/cluster-1/gateway.yaml", "namespace: default"),
    Case("namespace-unset", no_default_namespace.POLICY,
         (("overlays/cluster-1/gateway.yaml", "  namespace: istio-apps\n", ""),),
         "cluster-1 Gateway sample-caller-ui is without a namespace, so in namespace default; "
         "give it its application's namespace", "overlays/cluster-1/gateway.yaml", "metadata:"),
    Case("duplicate-export", duplicate_object.POLICY,
         (("overlays/cluster-2/kustomization.yaml", "  - ../../components/export-gke\n",
           "  - ../../components/export-gke\n  - ../../components/export-mcs-api\n"),),
         "ServiceExport istio-apps/sample-producer is declared twice in cluster cluster-2 "
         "(as net.gke.io/v1 and multicluster.x-k8s.io/v1alpha1)",
         "components/export-gke/serviceexport.yaml", "name: sample-producer"),
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_fires_on_a_small_edit(repo: Path, case: Case) -> None:
    assert_fires(repo, case)




@pytest.mark.parametrize(("image", "tag"), [
    ("nginx", ""), ("nginx:latest", "latest"), ("registry:5000/team/app", ""), ("registry:5000/team/app:1.2", "1.2"),
    ("app@sha256:abc", None), ("app:1.0@sha256:abc", None),
])
def test_image_tag(image: str, tag: str | None) -> None:
    assert _k8s.image_tag(image) == tag


def test_omitted_pull_policy_with_latest_is_left_to_the_api_server_default(repo: Path) -> None:
    """Kubernetes defaults an omitted imagePullPolicy to Always for :latest/untagged images."""
    edit(repo, CALLER, "sample-caller:1.0.0", "sample-caller:latest")
    edit(repo, CALLER, "          imagePullPolicy: IfNotPresent\n", "")
    assert run_policy(repo, image_pull_policy.POLICY) == []


def test_optional_configmap_may_be_missing(repo: Path) -> None:
    edit(repo, CALLER, "name: sample-caller-config", "name: sample-caller-cfg\n                optional: true")
    assert run_policy(repo, reference_exists.POLICY) == []


def test_every_workload_kind_has_its_pod_spec_found(repo: Path) -> None:
    """A CronJob keeps its pod spec under jobTemplate; the helpers must look there."""
    write(repo, "base/producer/cronjob.yaml", """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: busybox
""")
    edit(repo, "base/producer/kustomization.yaml", "  - service.yaml\n", "  - service.yaml\n  - cronjob.yaml\n")
    findings = run_policy(repo, image_pinned.POLICY)
    assert [(f.message, f.field_path) for f in findings] == [(
        "cluster-2 CronJob istio-apps/nightly container job image busybox has no tag; pin a version tag or a digest",
        "spec.jobTemplate.spec.template.spec.containers[0].image")]
    assert (findings[0].location.path, findings[0].location.line) == ("base/producer/cronjob.yaml", 14)
