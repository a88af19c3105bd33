"""A synthetic fleet shaped like this repository, for `nox -s bench` and the scale tests.

Every cluster runs `services` services out of a shared catalogue (one base each, like base/caller
and base/producer). Neighbouring clusters of a clusterset overlap by half their services, and
every third service is exported from each cluster that runs it. Services a cluster does not
run itself are reached through their clusterset.local name: the overlay patches the caller's
ConfigMap, as overlays/cluster-1/producer-url.yaml does. Every namespace exists in every
cluster (namespace sameness), so each export is importable wherever it is called.

With cluster_labels, every overlay also labels all its objects with its cluster's name, as many
fleets do; then no two clusters receive the same document (the worst case for validate, which
parses and schema-checks each distinct document once).

The output is deterministic (same arguments, byte-identical tree) and validates clean.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from gitops.infra import crds, schemas
from gitops.model.inventory import EXPORT_API, INVENTORY_FILE
from gitops.scaffold.templates import deployment

# The repository's crds.lock.yaml and schemas/net.gke.io, shipped inside the package so that an installed
# `python -m gitops.fleetgen` has them (tests/unit/scaffold/test_pinned.py keeps them equal to the root's).
PINNED = resources.files("gitops.scaffold") / "pinned"
REPO_URL = "https://github.com/example-org/gitops-fleet.git"
KUBERNETES_VERSION = "1.33"
PORT = 8080
WORDS = ("orders", "payments", "catalog", "inventory", "shipping", "accounts", "auth", "search", "reviews",
         "cart", "pricing", "notifications", "recommendations", "billing", "ledger", "fraud", "media",
         "profiles", "sessions", "checkout", "ratings", "coupons", "returns", "tax", "warehouse", "delivery",
         "support", "analytics", "audit", "reports")
NAMESPACES = ("storefront", "commerce", "logistics", "identity", "insights")
LOCATIONS = ("us-central1", "us-east1", "europe-west1", "asia-east1", "us-west1", "europe-north1")
GATEWAY_CLASS = {"gke": "gke-l7-global-external-managed", "mcs-api": "istio"}


@dataclass(frozen=True)
class Service:
    index: int

    @property
    def name(self) -> str:
        word = WORDS[self.index % len(WORDS)]
        return word if self.index < len(WORDS) else f"{word}-{self.index // len(WORDS) + 1}"

    @property
    def namespace(self) -> str:
        return NAMESPACES[self.index % len(NAMESPACES)]

    @property
    def exported(self) -> bool:
        return self.index % 3 == 0

    @property
    def calls(self) -> int:
        """How many remote services this one calls: exporters serve, the others call one or two."""
        return self.index % 3

    @property
    def url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc.clusterset.local:{PORT}"

    @property
    def env_key(self) -> str:
        return f"{self.name.upper().replace('-', '_')}_URL"


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    clusterset: str
    position: int  # index among its clusterset's members
    mcs: str
    sync: str
    location: str
    services: tuple[Service, ...]
    calls: dict[str, tuple[Service, ...]]  # caller name -> remote services it calls

    @property
    def overlay(self) -> str:
        return f"overlays/{self.name}"


def plan(clusters: int, services: int, clustersets: int = 1) -> list[ClusterPlan]:
    """Which cluster runs, exports and calls what; pure data, so tests can reason about it."""
    if clusters < 1 or services < 1 or not 1 <= clustersets <= clusters:
        raise ValueError("need clusters >= 1, services >= 1 and 1 <= clustersets <= clusters")
    catalogue = 2 * services
    shift = (services + 1) // 2
    members: dict[int, list[int]] = {}
    for i in range(clusters):
        members.setdefault(i % clustersets, []).append(i)
    runs = {i: tuple(Service((pos * shift + k) % catalogue) for k in range(services))
            for group in members.values() for pos, i in enumerate(group)}
    plans: list[ClusterPlan] = []
    for i in range(clusters):
        group = members[i % clustersets]
        local = {s.index for s in runs[i]}
        remote = sorted({s for j in group if j != i for s in runs[j] if s.exported and s.index not in local},
                        key=lambda s: s.index)
        pos = group.index(i)
        calls = {}
        for k, svc in enumerate(runs[i]):
            count = min(svc.calls, len(remote))
            if count:
                calls[svc.name] = tuple(remote[(k + pos + n) % len(remote)] for n in range(count))
        mcs = "gke" if (i % clustersets) % 2 == 0 else "mcs-api"
        plans.append(ClusterPlan(f"cluster-{i + 1}", f"fleet-{i % clustersets + 1}", pos, mcs,
                                 "argocd" if i % 2 == 0 else "config-sync", LOCATIONS[i % len(LOCATIONS)],
                                 runs[i], calls))
    return plans


def _inventory(plans: list[ClusterPlan], clustersets: int) -> str:
    lines = ["# Generated by gitops.fleetgen: a synthetic fleet for benchmarks and scale tests.",
             "repository:", f"  url: {REPO_URL}", "  revision: main",
             "argocd:", f"  cluster: {plans[0].name}", "  namespace: argocd", "  project: fleet",
             "clustersets:"]
    for j in range(clustersets):
        lines += [f"  - name: fleet-{j + 1}", f"    description: Synthetic clusterset {j + 1}"]
    lines.append("clusters:")
    for p in plans:
        lines += [f"  - name: {p.name}", f"    clusterset: {p.clusterset}", f"    location: {p.location}",
                  f'    kubernetesVersion: "{KUBERNETES_VERSION}"', f"    mcs: {p.mcs}", f"    sync: {p.sync}",
                  f"    overlay: {p.overlay}"]
    return "\n".join(lines) + "\n"


def _namespaces() -> dict[str, str]:
    files = {"base/namespaces/kustomization.yaml":
             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
             + "".join(f"  - {ns}.yaml\n" for ns in NAMESPACES)}
    for ns in NAMESPACES:
        files[f"base/namespaces/{ns}.yaml"] = (
            "# Namespace sameness (MCS): every cluster carries every namespace.\n"
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    istio-injection: enabled\n")
    return files


def _base(svc: Service) -> dict[str, str]:
    n, d = svc.name, f"base/{svc.name}"
    labels = f"  labels:\n    app: {n}\n"
    return {
        f"{d}/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                   f"namespace: {svc.namespace}\nresources:\n  - configmap.yaml\n"
                                   "  - serviceaccount.yaml\n  - deployment.yaml\n  - service.yaml\n",
        f"{d}/configmap.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}-config\n{labels}"
                               f"data:\n  SERVICE_NAME: {n}\n  LOG_LEVEL: info\n",
        f"{d}/serviceaccount.yaml": f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {n}-sa\n{labels}"
                                    "automountServiceAccountToken: false\n",
        f"{d}/service.yaml": f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\n{labels}spec:\n"
                             f"  selector:\n    app: {n}\n  ports:\n    - name: http\n      protocol: TCP\n"
                             f"      port: {PORT}\n      targetPort: http\n",
        f"{d}/deployment.yaml": _deployment(svc),
    }


def _deployment(svc: Service) -> str:
    """The scaffold's hardened Deployment, configured from the service's ConfigMap; replicas and image
    versions spread so a fleet is not 200 copies of one object."""
    return deployment(svc.name, f"us-docker.pkg.dev/sample/docker-repo/{svc.name}:1.{svc.index % 7}.0", PORT,
                      replicas=1 + svc.index % 3, config_map=f"{svc.name}-config", probe_port=PORT,
                      ready_path="/ready", notes=False)


def _export_component(svc: Service, mcs: str) -> dict[str, str]:
    d = f"components/export-{mcs}/{svc.name}"
    return {
        f"{d}/kustomization.yaml": f"# Exports {svc.namespace}/{svc.name} to the clusterset ({mcs} flavour).\n"
                                   "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                   "resources:\n  - serviceexport.yaml\n",
        f"{d}/serviceexport.yaml": f"apiVersion: {EXPORT_API[mcs]}\nkind: ServiceExport\nmetadata:\n"
                                   f"  name: {svc.name}\n  namespace: {svc.namespace}\n",
    }


def _gateway(p: ClusterPlan, front: Service) -> dict[str, str]:
    d, ns = p.overlay, front.namespace
    return {
        f"{d}/gateway.yaml": f"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
                             f"  name: {front.name}-ui\n  namespace: {ns}\nspec:\n"
                             f"  gatewayClassName: {GATEWAY_CLASS[p.mcs]}\n  listeners:\n    - name: http\n"
                             "      protocol: HTTP\n      port: 80\n      allowedRoutes:\n        namespaces:\n"
                             "          from: Same\n",
        f"{d}/httproute.yaml": f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n"
                               f"  name: {front.name}-ui\n  namespace: {ns}\nspec:\n  parentRefs:\n"
                               # the fields the CRD defaults inside list items, written (Argo CD stays Synced)
                               "    - group: gateway.networking.k8s.io\n      kind: Gateway\n"
                               f"      name: {front.name}-ui\n      sectionName: http\n  rules:\n"
                               "    - matches:\n        - path:\n            type: PathPrefix\n"
                               "            value: /\n      backendRefs:\n        - group: \"\"\n"
                               f"          kind: Service\n          name: {front.name}\n"
                               f"          port: {PORT}\n          weight: 1\n",
    }


CLUSTER_LABEL = "fleet.example.com/cluster"


def _overlay(p: ClusterPlan, cluster_labels: bool) -> dict[str, str]:
    by_name = {s.name: s for s in p.services}
    files: dict[str, str] = {}
    resources = ["../../base/namespaces"] + [f"../../base/{s.name}" for s in p.services]
    if p.position == 0:  # the first cluster of each clusterset exposes its first service's UI
        files.update(_gateway(p, p.services[0]))
        resources += ["gateway.yaml", "httproute.yaml"]
    exports = [f"../../components/export-{p.mcs}/{s.name}" for s in p.services if s.exported]
    patches = []
    for caller, targets in p.calls.items():
        svc = by_name[caller]
        patches.append(f"{caller}-upstreams.yaml")
        files[f"{p.overlay}/{caller}-upstreams.yaml"] = (
            f"# {caller} reaches services it does not run here through their clusterset.local names.\n"
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {caller}-config\n  namespace: {svc.namespace}\n"
            "data:\n" + "".join(f"  {t.env_key}: {t.url}\n" for t in targets))
    text = (f"# {p.name} ({p.clusterset}, {p.mcs}) runs {len(p.services)} services and exports "
            f"{len(exports)} of them.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n" + "".join(f"  - {r}\n" for r in resources))
    if exports:
        text += "components:\n" + "".join(f"  - {c}\n" for c in exports)
    if patches:
        text += "patches:\n" + "".join(f"  - path: {f}\n" for f in patches)
    if cluster_labels:
        text += f"labels:\n  - pairs:\n      {CLUSTER_LABEL}: {p.name}\n"
    files[f"{p.overlay}/kustomization.yaml"] = text
    return files


def _pinned_files(folder: Traversable, rel: str) -> dict[str, str]:
    """{repository path: text} of every file under a folder of the pinned copies."""
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        path = f"{rel}/{entry.name}"
        out.update(_pinned_files(entry, path) if entry.is_dir() else {path: entry.read_text(encoding="utf-8")})
    return out


def _pinned() -> dict[str, str]:
    """The CRD lock and the hand-written schemas every generated fleet validates against."""
    return {crds.LOCK_FILE: (PINNED / crds.LOCK_FILE).read_text(encoding="utf-8"),
            **_pinned_files(PINNED / schemas.HANDWRITTEN, schemas.HANDWRITTEN)}


def files(clusters: int, services: int, clustersets: int = 1, cluster_labels: bool = False) -> dict[str, str]:
    """{repository path: text} of the generated sources, the CRD lock and schemas/ included."""
    plans = plan(clusters, services, clustersets)
    out = {INVENTORY_FILE: _inventory(plans, clustersets), **_pinned(), **_namespaces()}
    for svc in sorted({s for p in plans for s in p.services}, key=lambda s: s.index):
        out.update(_base(svc))
    for p in plans:
        for svc in p.services:
            if svc.exported:
                out.update(_export_component(svc, p.mcs))
        out.update(_overlay(p, cluster_labels))
    return out


def generate(dest: Path, clusters: int, services: int, clustersets: int = 1, cluster_labels: bool = False) -> None:
    """Write a complete repository into dest (which must be empty or absent)."""
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    for rel, text in sorted(files(clusters, services, clustersets, cluster_labels).items()):
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gitops.fleetgen", description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="empty or absent folder to write the repository into")
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--services", type=int, default=20, help="services per cluster")
    parser.add_argument("--clustersets", type=int, default=1)
    parser.add_argument("--cluster-labels", action="store_true",
                        help=f"label every object with its cluster ({CLUSTER_LABEL}): no two clusters share a document")
    args = parser.parse_args(argv)
    if args.clusters < 1 or args.services < 1 or not 1 <= args.clustersets <= args.clusters:
        parser.error("--clusters and --services must be at least 1, --clustersets between 1 and --clusters")
    try:
        generate(args.dest, args.clusters, args.services, args.clustersets, args.cluster_labels)
    except (FileExistsError, OSError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"wrote {args.clusters} clusters x {args.services} services into {args.dest}; "
          f"run `python -m gitops --root {args.dest} render` to fill clusters/")


if __name__ == "__main__":
    main()
