"""`gitops new cluster|service|call`: the README's manual steps, done the way a person would do them.

Edits of existing files (inventory.yaml, an overlay's kustomization.yaml) go through ruamel.yaml's
round-trip mode, so comments, key order and quoting survive; PyYAML stays the reader everywhere
else. Every name is checked and every target looked up before anything is written: a refusal
(exit 2) leaves the tree untouched. The writes then go through fsio.write_atomic, and the tree is
rendered; if rendering fails, every file is put back as it was.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

if TYPE_CHECKING:  # ruamel.yaml is imported where a file is edited: every command builds this parser
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitops.infra import inventoryfile
from gitops.run import pipeline
from gitops.infra import proc, yamlsrc
from gitops.model.errors import GitopsError, InputError, UsageError
from gitops.infra.fsio import confined, inside, write_atomic
from gitops.model.inventory import (EXPORT_API, INVENTORY_FILE, MCS_FLAVOURS, MINOR, SYNC_ENGINES, Cluster,
                                    Inventory)
from gitops.model.names import DNS_1035_LABEL, DNS_LABEL
from gitops.model.resources import Resource
from gitops.scaffold import templates

_LOCATION = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")  # a region or zone: us-central1, europe-west1-b
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$")  # registry/path:tag or @digest
_RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
KUSTOMIZATION = "kustomization.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`new cluster`, `new service` and `new call`, each with help on every option."""
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT", parser_class=type(parser))
    c = sub.add_parser("cluster", help="add a cluster to inventory.yaml with an overlay, and render",
                       description="add a cluster to inventory.yaml with an overlay, and render")
    c.add_argument("name", help="the cluster's name (a DNS label), as registered in Argo CD or the fleet")
    c.add_argument("--clusterset", required=True, help="the clusterset (fleet) it joins; declared if new")
    c.add_argument("--location", required=True, help="region or zone, e.g. us-central1")
    c.add_argument("--mcs", required=True, choices=MCS_FLAVOURS, help="MCS flavour: gke (net.gke.io) or mcs-api")
    c.add_argument("--sync", required=True, choices=SYNC_ENGINES, help="sync engine: argocd or config-sync")
    c.add_argument("--version", dest="kubernetes_version", metavar="MINOR",
                   help="Kubernetes minor version such as 1.33 (default: the newest in the inventory)")
    s = sub.add_parser("service", help="add a hardened service base, wire it into a cluster's overlay, and render",
                       description="add a hardened service base, wire it into a cluster's overlay, and render")
    s.add_argument("name", help="the service's name (a DNS-1035 label): base/NAME, Deployment NAME-v1, Service NAME")
    s.add_argument("--namespace", required=True, help="its namespace (created as a base when no base declares it)")
    s.add_argument("--cluster", required=True, help="the inventory cluster whose overlay runs it")
    s.add_argument("--export", action="store_true", help="export it to the clusterset (the MCS flavour's component)")
    s.add_argument("--port", type=int, default=8080, help="the container and Service port (default: 8080)")
    s.add_argument("--image", help="the container image, pinned by tag or digest "
                                   "(default: registry.example.com/NAMESPACE/NAME:0.1.0, to replace)")
    k = sub.add_parser("call", help="point a service at another through its clusterset.local name, and render",
                       description="point a service at another through its clusterset.local name, and render")
    k.add_argument("--from", dest="caller", required=True, help="the calling service (its Deployment's app label)")
    k.add_argument("--to", dest="service", required=True, help="the called service, exported by some cluster")
    k.add_argument("--cluster", help="the caller's cluster, when the caller runs in several")
    k.add_argument("--env", metavar="NAME",
                   help="the environment variable the caller reads the address from; needed when it reads no "
                        "address of the service yet (added as a key of the ConfigMap it takes whole, else as an env "
                        "var); an address it already has is patched in place")


def run(root: Path, args: argparse.Namespace, render: Callable[[], int]) -> int:
    plan = {"cluster": _new_cluster, "service": _new_service, "call": _new_call}[args.what](root, args)
    return apply(root, plan, render)


def apply(root: Path, plan: dict[str, str], render: Callable[[], int]) -> int:
    """Write every planned file, then render; on a failed render, Ctrl-C or SIGTERM (a cancelled CI job,
    `timeout`) put every file back as it was. An edited file keeps its line endings and byte-order mark."""
    before: dict[str, bytes | None] = {}
    for rel in plan:
        path = confined(root, rel)
        before[rel] = path.read_bytes() if path.is_file() else None
    created_dirs = [p for rel in plan for p in confined(root, rel).parents if not p.exists() and p != root]
    with proc.interruptible():
        try:
            for rel, text in plan.items():
                old = before[rel]
                write_atomic(confined(root, rel), text if old is None else in_style_of(old, text))
                print(f"{'edited' if old is not None else 'created'} {rel}")
            return render()
        except (GitopsError, KeyboardInterrupt):
            with proc.deferred():
                _put_back(root, before, created_dirs)
            raise


def _put_back(root: Path, before: dict[str, bytes | None], created_dirs: list[Path]) -> None:
    for rel, old in before.items():
        path = root / rel
        if old is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, old)
    for folder in sorted(set(created_dirs), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass


_BOM = "\ufeff"


def in_style_of(old: bytes, text: str) -> str:
    """`text` (an edit of the file whose bytes were `old`) with the file's line endings (CRLF when most of its
    lines had them) and its UTF-8 byte-order mark, if it had one."""
    text = text.removeprefix(_BOM).replace("\r\n", "\n")
    if old.count(b"\r\n") * 2 > old.count(b"\n"):
        text = text.replace("\n", "\r\n")
    return _BOM + text if old.startswith(_BOM.encode()) else text


# --- round-trip YAML -----------------------------------------------------------------------------

def _yaml() -> YAML:
    from ruamel.yaml import YAML

    rt = YAML()  # round-trip: comments, order and quotes are kept
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.preserve_quotes = True
    rt.width = 4096
    return rt


def _load_rt(root: Path, rel: str) -> Any:
    """The file as round-trip YAML, within yamlsrc's size, encoding, regular-file and nesting limits."""
    from ruamel.yaml.error import YAMLError

    text = yamlsrc.read_checked(confined(root, rel), rel)
    yamlsrc.check_expansion(text, rel)
    text = text.removeprefix(_BOM).replace("\r\n", "\n")  # apply() writes the file's own style back
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", rel,
                         mark.line + 1 if mark else None) from None


def _dump_rt(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def _seq(doc: CommentedMap, key: str) -> CommentedSeq:
    from ruamel.yaml.comments import CommentedSeq

    if doc.get(key) is None:
        doc[key] = CommentedSeq()
    if not isinstance(doc[key], list):
        raise InputError(f"'{key}' is not a list")
    return doc[key]


def _refuse(message: str) -> UsageError:
    return UsageError(message + "; nothing was written")


def _name(value: str, what: str, pattern: re.Pattern[str] = DNS_LABEL) -> str:
    if not pattern.fullmatch(value):
        rule = "a lowercase letter" if pattern is DNS_1035_LABEL else "a lowercase letter or digit"
        raise _refuse(f"{what} {value!r} is not a valid name: up to 63 characters, lowercase letters, digits "
                      f"and '-', starting with {rule} and ending with a letter or digit")
    return value


# --- new cluster ---------------------------------------------------------------------------------

def _new_cluster(root: Path, args: argparse.Namespace) -> dict[str, str]:
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    inv = inventoryfile.load(root)
    name = _name(args.name, "cluster")
    _name(args.clusterset, "clusterset")
    if not _LOCATION.fullmatch(args.location):
        raise _refuse(f"--location {args.location!r} is not a region or zone name such as us-central1")
    if any(c.name == name for c in inv.clusters):
        raise _refuse(f"cluster {name!r} already exists ({INVENTORY_FILE}:{inv.cluster(name).line})")
    overlay = f"overlays/{name}"
    if (root / overlay).exists():
        raise _refuse(f"{overlay}/ already exists")
    others = {c.mcs for c in inv.members(args.clusterset)} - {args.mcs}
    if others:  # policy mcs-clusterset-one-flavour: the two MCS implementations never import each other's exports
        raise _refuse(f"clusterset {args.clusterset} runs MCS {', '.join(sorted(others))}; a --mcs {args.mcs} cluster "
                      "there would neither see its exports nor be seen (choose that flavour or another clusterset)")
    if args.sync == "argocd" and inv.argocd is None:
        raise _refuse(f"--sync argocd needs an 'argocd' section in {INVENTORY_FILE} saying where Argo CD runs")
    version = args.kubernetes_version or max((c.kubernetes_version for c in inv.clusters),
                                             key=lambda v: int(v.split(".")[1]))
    if not MINOR.fullmatch(version):
        raise _refuse(f"--version {version!r} is not a Kubernetes minor version such as 1.33")

    doc = _load_rt(root, INVENTORY_FILE)
    if args.clusterset not in {s.name for s in inv.clustersets}:
        _seq(doc, "clustersets").append(CommentedMap([("name", args.clusterset)]))
    entry = CommentedMap([("name", name), ("clusterset", args.clusterset), ("location", args.location),
                          ("kubernetesVersion", DoubleQuotedScalarString(version)), ("mcs", args.mcs),
                          ("sync", args.sync), ("overlay", overlay)])
    _seq(doc, "clusters").append(entry)
    # No namespace yet: `new service` adds the namespace base of what runs here, and `new call` the called
    # service's (namespace sameness); a namespace nothing runs in is not created in every new cluster.
    kustomization = (
        f"# {name}: {args.location}, clusterset {args.clusterset}, MCS {args.mcs}, synced by {args.sync}.\n"
        f"# Add services with `gitops new service NAME --namespace NS --cluster {name}`.\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
    return {INVENTORY_FILE: _dump_rt(doc), f"{overlay}/{KUSTOMIZATION}": kustomization}


# --- new service ---------------------------------------------------------------------------------

def _cluster(inv: Inventory, name: str) -> Cluster:
    try:
        return inv.cluster(name)
    except KeyError:
        raise _refuse(f"no cluster {name!r} in {INVENTORY_FILE}; known: "
                      + ", ".join(c.name for c in inv.clusters)) from None


def _namespace_base(root: Path, namespace: str) -> str | None:
    """The base folder (relative to root) whose files declare the Namespace, if any."""
    base = root / "base"
    for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        for path in sorted(folder.glob("*.yaml")):
            if not inside(path, root):  # a link out of the repository is never read
                continue
            try:  # within the size, alias-expansion and nesting limits; a file that breaks them declares nothing
                docs = [yamlsrc.construct(node) for node in yamlsrc.compose_file(path, root)]
            except (InputError, yaml.YAMLError):
                continue
            if any(isinstance(d, dict) and d.get("kind") == "Namespace"
                   and (d.get("metadata") or {}).get("name") == namespace for d in docs):
                return folder.relative_to(root).as_posix()
    return None


def _rel(root: Path, target: str, overlay: str) -> str:
    return Path(os.path.relpath(root / target, root / overlay)).as_posix()


def _add_resources(root: Path, overlay: str, targets: list[str], components: list[str] = ()) -> str:  # type: ignore[assignment]
    """The overlay's kustomization with `targets` (repository paths) added to resources, comments kept."""
    from ruamel.yaml.comments import CommentedMap

    rel = f"{overlay}/{KUSTOMIZATION}"
    doc = _load_rt(root, rel)
    if not isinstance(doc, CommentedMap):
        raise InputError("expected a Kustomization mapping", rel)
    for key, items in (("resources", targets), ("components", components)):
        for target in items:
            seq = _seq(doc, key)
            entry = _rel(root, target, overlay)
            if entry not in seq:
                seq.append(entry)
    return _dump_rt(doc)


_SERVICE_FILES = {
    KUSTOMIZATION: """\
# {name}: made by `gitops new service`, with the hardened defaults of base/producer.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace}
resources:
  - serviceaccount.yaml
  - deployment.yaml
  - service.yaml
""",
    "serviceaccount.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}-sa
  labels:
    app: {name}
automountServiceAccountToken: false
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  selector:
    app: {name}
  ports:
    - name: http
      protocol: TCP
      port: {port}
      targetPort: http
""",
}

_NAMESPACE = """\
# Namespace sameness (MCS): every cluster that exports or calls a service in {namespace} carries this object.
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
"""

_EXPORT = """\
# Exports {name} to the clusterset ({mcs} MCS: {api}).
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
  - serviceexport.yaml
"""


def _new_service(root: Path, args: argparse.Namespace) -> dict[str, str]:
    inv = inventoryfile.load(root)
    name = _name(args.name, "service", DNS_1035_LABEL)
    if len(name) > 59:  # the Deployment is NAME-v1 and the ServiceAccount NAME-sa
        raise _refuse(f"service {name!r} is longer than 59 characters")
    namespace = _name(args.namespace, "namespace")
    if namespace in _RESERVED_NAMESPACES:
        raise _refuse(f"namespace {namespace!r} is shared by everything in a cluster; choose the service's own")
    cluster = _cluster(inv, args.cluster)
    if not 1 <= args.port <= 65535:
        raise _refuse(f"--port {args.port} is not a port number (1-65535)")
    image = args.image or f"registry.example.com/{namespace}/{name}:0.1.0"
    if not _IMAGE.fullmatch(image):
        raise _refuse(f"--image {image!r} is not an image reference such as registry.example.com/team/app:1.0.0")
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image or image.endswith(":latest"):
        raise _refuse(f"--image {image!r} is not pinned by a version tag or a digest")
    base = f"base/{name}"
    if (root / base).exists():
        raise _refuse(f"{base}/ already exists")
    export = f"components/export-{cluster.mcs}-{name}"
    if args.export and (root / export).exists():
        raise _refuse(f"{export}/ already exists")
    _, resources = pipeline.build(root)
    taken = {f"{r.kind}/{r.name}": c for c, items in resources.items() for r in items if r.namespace == namespace}
    for kind, obj in (("Service", name), ("Deployment", f"{name}-v1"), ("ServiceAccount", f"{name}-sa")):
        if f"{kind}/{obj}" in taken:  # one name across the clusterset: MCS would merge two services
            raise _refuse(f"service {name!r}: cluster {taken[f'{kind}/{obj}']} already has {kind} {obj} "
                          f"in namespace {namespace}")

    plan = {f"{base}/{file}": text.format(name=name, namespace=namespace, port=args.port, image=image)
            for file, text in _SERVICE_FILES.items()}
    plan[f"{base}/deployment.yaml"] = templates.deployment(name, image, args.port)
    ns_base = _namespace_base(root, namespace)
    if ns_base is None:
        ns_base = f"base/namespace-{namespace}"
        if (root / ns_base).exists():
            raise _refuse(f"{ns_base}/ exists but declares no Namespace {namespace}")
        plan[f"{ns_base}/{KUSTOMIZATION}"] = ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                              "resources:\n  - namespace.yaml\n")
        plan[f"{ns_base}/namespace.yaml"] = _NAMESPACE.format(namespace=namespace)
    components = []
    if args.export:
        api = EXPORT_API[cluster.mcs]
        plan[f"{export}/{KUSTOMIZATION}"] = _EXPORT.format(name=name, mcs=cluster.mcs, api=api)
        plan[f"{export}/serviceexport.yaml"] = (f"apiVersion: {api}\nkind: ServiceExport\nmetadata:\n"
                                                f"  name: {name}\n  namespace: {namespace}\n")
        components.append(export)
    plan[f"{cluster.overlay}/{KUSTOMIZATION}"] = _add_resources(root, cluster.overlay, [ns_base, base], components)
    return plan


# --- new call ------------------------------------------------------------------------------------

def _find_caller(resources: dict[str, list[Resource]], caller: str, cluster: str | None) -> tuple[str, Resource]:
    found = [(c, r) for c, items in resources.items() for r in items
             if r.kind == "Deployment" and (cluster is None or c == cluster)
             and (r.name == caller or ((r.body.get("metadata") or {}).get("labels") or {}).get("app") == caller)]
    if not found:
        where = f"cluster {cluster}" if cluster else "any cluster"
        raise _refuse(f"no Deployment named {caller!r} or labelled app={caller} in {where}")
    clusters = sorted({c for c, _ in found})
    if len(clusters) > 1:
        raise _refuse(f"{caller!r} runs in {', '.join(clusters)}; say which with --cluster")
    if len(found) > 1:
        raise _refuse(f"{caller!r} matches several Deployments in {clusters[0]}: "
                      + ", ".join(r.name for _, r in found))
    return found[0]


def _find_export(inv: Inventory, resources: dict[str, list[Resource]], cluster: str,
                 service: str) -> tuple[str, list[int]]:
    """(namespace, ports: the one named http first) of `service` as some cluster of the caller's clusterset
    exports it."""
    members = {c.name for c in inv.members(inv.cluster(cluster).clusterset)}
    for member in sorted(members):
        items = resources.get(member, [])
        for export in (r for r in items if r.kind == "ServiceExport" and r.name == service):
            svc = next((r for r in items if r.kind == "Service" and r.name == service
                        and r.namespace == export.namespace), None)
            ports = [p for p in ((svc.body.get("spec") or {}).get("ports") or []) if isinstance(p, dict)] if svc else []
            numbers = [int(p["port"]) for p in sorted(ports, key=lambda p: p.get("name") != "http")
                       if isinstance(p.get("port"), int)]
            if numbers:
                return str(export.namespace), numbers
    raise _refuse(f"no cluster of clusterset {inv.cluster(cluster).clusterset} exports a Service {service!r}; "
                  f"add one with `gitops new service {service} --export ...`")


# An address: [scheme://]host[:port][/path...]
_ADDRESS = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)?(?P<host>[a-z0-9.-]+)(?::(?P<port>\d{1,5}))?(?P<rest>[/?#].*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class _Address:
    """Where the caller reads a value: a ConfigMap key (`configmap` set) or a literal env var of the container."""

    env: str  # the variable the caller's process sees
    value: str | None  # None: not set yet
    configmap: Resource | None = None
    key: str = ""

    def where(self) -> str:
        if self.configmap is not None:
            return f"ConfigMap {self.configmap.namespace}/{self.configmap.name} key {self.key}"
        return f"env {self.env} of the Deployment"


def _map(value: Any) -> dict[str, Any]:
    """A mapping of a built object, or an empty one where the object has something else (it may be malformed)."""
    return value if isinstance(value, dict) else {}


def _configmaps(resources: list[Resource], deployment: Resource) -> dict[str, Resource]:
    return {r.name: r for r in resources if r.kind == "ConfigMap" and r.namespace == deployment.namespace}


def _read_addresses(resources: list[Resource], deployment: Resource, container: dict[str, Any]) -> list[_Address]:
    """Every variable the container reads: the keys of the ConfigMaps it takes whole (envFrom, with its prefix),
    its env entries (literal values, or one ConfigMap key each)."""
    configmaps = _configmaps(resources, deployment)
    out = []
    for source in container.get("envFrom") or []:
        cm = configmaps.get(str(_map(_map(source).get("configMapRef")).get("name")))
        if cm is not None:
            for key, value in _map(cm.body.get("data")).items():
                out.append(_Address(f"{_map(source).get('prefix') or ''}{key}", str(value), cm, str(key)))
    for entry in container.get("env") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        ref = _map(_map(entry.get("valueFrom")).get("configMapKeyRef"))
        cm = configmaps.get(str(ref.get("name")))
        if cm is not None and isinstance(ref.get("key"), str):
            value = _map(cm.body.get("data")).get(ref["key"])
            out.append(_Address(entry["name"], None if value is None else str(value), cm, ref["key"]))
        elif "valueFrom" not in entry:
            value = entry.get("value")
            out.append(_Address(entry["name"], None if value is None else str(value)))
    return out


def _taken_whole(resources: list[Resource], deployment: Resource, container: dict[str, Any]) -> Resource | None:
    """The first ConfigMap the container takes whole (envFrom without a prefix): where the repository keeps the
    addresses a workload reads (base/caller's sample-caller-config)."""
    configmaps = _configmaps(resources, deployment)
    for source in container.get("envFrom") or []:
        name = str(_map(_map(source).get("configMapRef")).get("name"))
        if not _map(source).get("prefix") and name in configmaps:
            return configmaps[name]
    return None


def _names_service(value: str | None, service: str, namespace: str) -> re.Match[str] | None:
    """The address in `value` when it names `service` by any of its in-cluster or clusterset names."""
    m = _ADDRESS.match((value or "").strip())
    if m is None:
        return None
    names = {service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local",
             f"{service}.{namespace}.svc.clusterset.local"}
    return m if m["host"].rstrip(".") in names else None


def _scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when it reads back as the same string, else a double-quoted (JSON) one."""
    try:
        plain = yaml.safe_load(value) == value and "\n" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def _new_call(root: Path, args: argparse.Namespace) -> dict[str, str]:
    """Where the caller already keeps the service's address (a ConfigMap key, an env var), that value is patched
    in place to the clusterset.local name; otherwise `--env NAME` says which variable the caller reads, written
    as a key of the ConfigMap the container takes whole (the repository's convention), else as an env var."""
    from ruamel.yaml.comments import CommentedMap

    caller, service = _name(args.caller, "caller", DNS_1035_LABEL), _name(args.service, "service", DNS_1035_LABEL)
    if args.env is not None and not _ENV_NAME.fullmatch(args.env):
        raise _refuse(f"--env {args.env!r} is not an environment variable name such as ORDERS_URL")
    inv, resources = pipeline.build(root)
    if args.cluster is not None:
        _cluster(inv, args.cluster)
    cluster_name, deployment = _find_caller(resources, caller, args.cluster)
    cluster = inv.cluster(cluster_name)
    namespace, ports = _find_export(inv, resources, cluster_name, service)
    containers = (((deployment.body.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
    if not containers:
        raise _refuse(f"Deployment {deployment.name} in {cluster_name} has no containers")
    container = _map(containers[0])
    who = f"{deployment.name} in {cluster_name}"
    read = _read_addresses(resources.get(cluster_name, []), deployment, container)
    if args.env is not None:
        read = [a for a in read if a.env == args.env]
    found = [(a, m) for a in read if (m := _names_service(a.value, service, namespace)) is not None]
    target = f"{service}.{namespace}.svc.clusterset.local"
    done = [a for a, m in found if m["host"].rstrip(".") == target]
    if done:
        raise _refuse(f"{who} already calls {service} through its clusterset.local name ({done[0].where()})")
    if len(found) > 1:
        raise _refuse(f"{who} keeps {service}'s address in several places ("
                      + ", ".join(a.where() for a, _ in found) + "); say which variable with --env NAME")
    if found:  # patched in place: its scheme and path kept, the port kept when the exported Service has it
        address, m = found[0]
        port = int(m["port"]) if m["port"] and int(m["port"]) in ports else ports[0]
        url = f"{m['scheme'] or ''}{target}:{port}{m['rest'] or ''}"
    elif args.env is None:
        raise _refuse(f"{who} reads no address of {service} (no ConfigMap key or env var names it); say which "
                      "environment variable it reads the address from with --env NAME, e.g. "
                      f"--env {re.sub(r'[^A-Z0-9]', '_', service.upper())}_URL")
    else:  # the variable named by --env: set in place where the caller has it, else added where it reads config
        url = f"http://{target}:{ports[0]}"
        whole = _taken_whole(resources.get(cluster_name, []), deployment, container)
        address = read[0] if read else _Address(args.env, None, whole, args.env) if whole else _Address(args.env, None)
    patch = f"{cluster.overlay}/{caller}-calls-{service}.yaml"
    if (root / patch).exists():
        raise _refuse(f"{patch} already exists")
    comment = f"# {caller} reaches {service} through its clusterset.local name (MCS), wherever it runs.\n"
    if address.configmap is not None:
        cm = address.configmap
        text = (f"{comment}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm.name}\n  namespace: {cm.namespace}\n"
                f"data:\n  {_scalar(address.key)}: {_scalar(url)}\n")
    else:
        text = (f"{comment}apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
                f"  name: {deployment.name}\n  namespace: {deployment.namespace}\n"
                "spec:\n  template:\n    spec:\n      containers:\n"
                f"        - name: {container.get('name')}\n          env:\n"
                f"            - name: {_scalar(address.env)}\n              value: {_scalar(url)}\n")
    plan = {patch: text}
    targets = []
    if not any(r.kind == "Namespace" and r.name == namespace for r in resources.get(cluster_name, [])):
        ns_base = _namespace_base(root, namespace)  # namespace sameness: the caller's cluster needs it too
        if ns_base is None:
            raise _refuse(f"cluster {cluster_name} has no Namespace {namespace} and no base declares one")
        targets.append(ns_base)
    rel = f"{cluster.overlay}/{KUSTOMIZATION}"
    text = _add_resources(root, cluster.overlay, targets)
    doc = _yaml().load(text)
    _seq(doc, "patches").append(CommentedMap([("path", Path(patch).name)]))
    plan[rel] = _dump_rt(doc)
    return plan
