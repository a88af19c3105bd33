"""`nox -s e2e`: every cluster folder applied to a real kube-apiserver of the cluster's Kubernetes version.

Schemas and policies model what a cluster accepts; the API server is the truth (label syntax,
CEL rules of CRDs, list-map keys, immutable fields, admission). What is applied is what the sync
engines apply: the committed clusters/<name>/ folders and bootstrap/ files, not a fresh build of
the overlays (a hand edit there reaches the cluster; validate reports it as stale). Per cluster: a
fresh apiserver (controlplane.py) over a fresh etcd prefix, the locked CRDs plus CRDs made from
schemas/, the cluster's Namespaces applied for real, then every object server-side dry-run, really
applied, and applied again, which must change nothing. Bootstrap objects go to the cluster that
runs their sync engine. With a base revision, the base's committed folders are applied for real and
the new ones dry-run over them, so immutable-field changes show up. Refusals and warnings become
findings at the source line of the field the server names: the overlay's line when the committed
file is what the overlays render, else the committed file's own line.

The control plane never leaves loopback: etcd, the apiservers and the client threads run in a
private network namespace with only `lo` (netns.py), and objects that would make the server call
out are dry-run only (callouts.py). Nothing here needs controllers, so nothing proves that pods
run, that MCS imports or that DNS resolves.
"""
from __future__ import annotations

import copy
import json
import os
import resource
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from gitops.e2e import callouts, controlplane, netns, reconciler, rules, servermsg
from gitops.infra import crds, git, inventoryfile, owned, proc, schemas, tools
from gitops.infra.kustomizations import Closures
from gitops.model.errors import GitopsError, InputError, ToolError, UsageError
from gitops.model.findings import Finding, path_text
from gitops.model.inventory import Cluster, Inventory
from gitops.model.resources import Resource
from gitops.model.rules import Rule
from gitops.run import bootstrap, context, inputs, pipeline, render
from gitops.run.context import Options, Run
from gitops.run.inputs import Built
from gitops.run.sourcemap import SourceMap

REJECTS, IMMUTABLE, WARNING, DRIFT, PRUNED, NOT_EXERCISED, FORBIDDEN = rules.E2E_RULES

FIELD_MANAGER = "gitops-e2e"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
APISERVER_MIB = 900  # what one kube-apiserver with the locked CRDs needs at most (measured ~600 MiB)
CRD_TIMEOUT = 120.0
ENGINE_NAMESPACES = "the sync engine's installation"


@dataclass
class ClusterRun:
    cluster: str
    version: str
    objects: int
    seconds: float
    start_seconds: float
    crd_seconds: float
    apiserver_peak_mib: float


@dataclass
class Result:
    inventory: Inventory
    checked: list[str]
    findings: list[Finding]
    runs: list[ClusterRun]
    wall: float
    build_seconds: float
    etcd_peak_mib: float
    parallel: int

    @property
    def peak_mib(self) -> float:
        """Upper bound of the memory in use at once: etcd, the largest `parallel` apiservers, and this process."""
        apiservers = sorted((r.apiserver_peak_mib for r in self.runs), reverse=True)[:self.parallel]
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return self.etcd_peak_mib + sum(apiservers) + own


# --- CRDs --------------------------------------------------------------------------------------------

def _structural(schema: Any) -> Any:
    """A strict JSON schema of schemas/ as an apiextensions structural schema: the server then prunes
    nothing silently because every apply asks for strict field validation."""
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$schema", "$id") or (key == "additionalProperties" and isinstance(value, bool)):
            continue
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in value:
                out["nullable"] = True
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _structural(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _structural(value)
        else:
            out[key] = value
    return out


def generated_crds(root: Path) -> list[dict[str, Any]]:
    """A CRD for every kind with a hand-written schema under schemas/<group>/<kind>_<version>.json."""
    versions: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    folder = root / schemas.HANDWRITTEN
    for path in sorted(folder.glob("*/*_*.json")):
        rel = path.relative_to(root).as_posix()
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            kind = schema["properties"]["kind"]["enum"][0]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            raise InputError("not a schema with properties.kind.enum naming its kind", rel) from None
        version = path.stem.rpartition("_")[2]
        versions.setdefault((path.parent.name, kind), []).append((version, schema))
    out = []
    for (group, kind), entries in sorted(versions.items()):
        first = entries[0][1]
        namespaced = "namespace" in ((first.get("properties") or {}).get("metadata") or {}).get("properties", {})
        crd_versions = []
        for i, (version, schema) in enumerate(entries):
            body = _structural(copy.deepcopy(schema))
            props = body.setdefault("properties", {})
            props["apiVersion"] = {"type": "string"}
            props["kind"] = {"type": "string"}
            props["metadata"] = {"type": "object"}
            body["required"] = [r for r in body.get("required", []) if r not in ("apiVersion", "kind", "metadata")]
            if not body["required"]:
                del body["required"]
            crd_versions.append({"name": version, "served": True, "storage": i == 0,
                                 "schema": {"openAPIV3Schema": body}, "subresources": {"status": {}}})
        plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
        out.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": f"{plural}.{group}"},
                    "spec": {"group": group, "scope": "Namespaced" if namespaced else "Cluster",
                             "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                                       "listKind": f"{kind}List"},
                             "versions": crd_versions}})
    return out


def all_crds(root: Path, mirror: str | None) -> list[dict[str, Any]]:
    """The locked upstream CRDs (cache, mirror or URL, hash-checked as for validate) and the generated ones."""
    lock = crds.load_lock(root)
    mirror = crds.mirror_of(lock, mirror)
    out = []
    for crd in lock.crds:
        data = crds.fetch(crd, root, owned.cache_dir(root), mirror)
        out += [d for d in yaml.load_all(data, Loader=_LOADER)
                if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    return out + generated_crds(root)


# --- talking to one apiserver ------------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    body: dict[str, Any] = field(default_factory=dict)  # the object as stored, or the refusal's Status
    status: int = 200
    warnings: list[str] = field(default_factory=list)


class Server:
    """Server-side apply of plain objects through the official client's DynamicClient."""

    def __init__(self, api: controlplane.ApiServer, workdir: Path) -> None:
        from kubernetes import dynamic

        self._dynamic = dynamic
        self.api_client = api.client()
        self.client = dynamic.DynamicClient(self.api_client, cache_file=str(workdir / "discovery.json"))
        self._resources: dict[tuple[str, str], Any] = {}  # found kinds only: a CRD may serve a missing one later

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        if key not in self._resources:
            self._resources[key] = self._discover(api_version, kind)
        return self._resources[key]

    def _discover(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        for attempt in range(20):  # a CRD just established may take a moment to appear in discovery
            try:
                return self.client.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                if attempt == 19:
                    return None
                self.client.resources.invalidate_cache()
                time.sleep(0.25)
        return None

    def apply(self, body: dict[str, Any], dry_run: bool) -> Outcome:
        from kubernetes.dynamic.exceptions import DynamicApiError

        kind, api_version = str(body.get("kind", "")), str(body.get("apiVersion", ""))
        res = self._resource(api_version, kind)
        if res is None:
            return Outcome(False, {"message": f"the server does not serve {kind} in {api_version} "
                                   "(no such built-in kind and no CRD for it)"}, 404)
        meta = body.get("metadata") or {}
        namespace = (meta.get("namespace") or "default") if res.namespaced else None
        try:
            resp = self.client.server_side_apply(
                res, body=body, name=meta.get("name"), namespace=namespace, field_manager=FIELD_MANAGER,
                force_conflicts=True, dry_run="All" if dry_run else None, serialize=False,
                query_params=[("fieldValidation", "Strict")])
        except DynamicApiError as exc:
            try:
                status = json.loads(exc.body) if exc.body else {}
            except ValueError:
                status = {"message": str(exc.body)}
            return Outcome(False, status if isinstance(status, dict) else {"message": str(status)},
                           exc.status or 0, servermsg.warnings(exc.headers))
        return Outcome(True, json.loads(resp.data or b"{}"), resp.status, servermsg.warnings(resp.headers))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as stored, None when the server has no such object (or kind)."""
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self._resource(api_version, kind)
        if res is None:
            return None
        try:
            got = self.client.get(res, name=name, namespace=namespace if res.namespaced else None, serialize=False)
        except NotFoundError:
            return None
        body = json.loads(got.data or b"{}")
        return body if isinstance(body, dict) else None

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of a kind (in `namespace`), as stored; [] when the server has no such kind."""
        res = self._resource(api_version, kind)
        if res is None:
            return []
        got = self.client.get(res, namespace=namespace if res.namespaced else None, serialize=False)
        items = (json.loads(got.data or b"{}") or {}).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def merge(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict[str, Any]) -> None:
        """A JSON merge patch of one object (what `kubectl patch --type merge` sends)."""
        res = self._resource(api_version, kind)
        self.client.patch(res, body=patch, name=name, namespace=namespace if res.namespaced else None,
                          content_type="application/merge-patch+json", serialize=False)
    def resource_of(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(resource name, namespaced) of a kind the server serves, None otherwise."""
        res = self._resource(api_version, kind)
        return None if res is None else (str(res.name), bool(res.namespaced))

    def allowed(self, review: dict[str, Any]) -> bool:
        """The RBAC authorizer's answer to a SubjectAccessReview."""
        res = self._resource("authorization.k8s.io/v1", "SubjectAccessReview")
        answer = self.client.create(res, body=review, serialize=False)
        return bool((json.loads(answer.data or b"{}").get("status") or {}).get("allowed"))

    def wait_established(self, names: list[str], timeout: float) -> list[str]:
        """CRD names that did not become Established in time."""
        res = self._resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                got = self.client.get(res, name=name, serialize=False)
                conditions = (json.loads(got.data).get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    pending.discard(name)
            if pending:
                time.sleep(0.1)
        self.client.resources.invalidate_cache()
        self._resources = {k: v for k, v in self._resources.items() if v is not None}
        return sorted(pending)

    def close(self) -> None:
        self.api_client.close()


# --- one cluster -------------------------------------------------------------------------------------

@dataclass
class Job:
    cluster: Cluster
    objects: list[Resource]  # the folder's objects, then the bootstrap objects applied to this cluster
    base: list[Resource] | None = None  # upgrade check: what the base revision applies


class Checker:
    """Turns server answers about one cluster's objects into findings at their source lines."""

    def __init__(self, cluster: str, sources: SourceMap) -> None:
        self.cluster = cluster
        self.sources = sources
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str, str]] = set()

    def _add(self, rule: Rule, res: Resource, message: str, path: tuple[Any, ...]) -> None:
        key = (rule.id, str(res.ref), message)
        if key in self._seen:
            return
        self._seen.add(key)
        location = self.sources.locate(res, path) if path else None
        location = location or self.sources.locate(res, ("kind",))
        self.findings.append(Finding(rule.id, rule.severity, message, self.cluster, res.ref,
                                     path_text(path) or None, rule.fix, location))

    def refused(self, res: Resource, outcome: Outcome, upgrade: bool = False) -> None:
        for cause_field, text in servermsg.causes(outcome.body):
            whole = str(outcome.body.get("message") or text)
            rule = IMMUTABLE if upgrade and servermsg.immutable(text) else REJECTS
            path = servermsg.field_path(cause_field, text if cause_field else whole, res.body)
            verb = "refuses the change to" if rule is IMMUTABLE else "refuses"
            self._add(rule, res, f"kube-apiserver {verb} {res.ref} in cluster {self.cluster}: {text}", path)

    def warned(self, res: Resource, outcome: Outcome) -> None:
        for text in outcome.warnings:
            path = servermsg.field_path(None, text, res.body) or (("apiVersion",) if "deprecated" in text else ())
            self._add(WARNING, res, f"kube-apiserver warns about {res.ref} in cluster {self.cluster}: {text}", path)

    def drifted(self, res: Resource, before: str, after: str, changed: tuple[Any, ...]) -> None:
        self._add(DRIFT, res, f"{res.ref} in cluster {self.cluster}: a second server-side apply changed "
                  f"{path_text(changed) or 'it'} (resourceVersion {before} -> {after})",
                  servermsg.parse_path(path_text(changed), res.body))

    def not_exercised(self, res: Resource, call: callouts.CallOut) -> None:
        self._add(NOT_EXERCISED, res, f"{res.ref} in cluster {self.cluster} is not exercised: {call.reason}; e2e never "
                  "lets its throwaway API server call out", call.path)

    def forbidden(self, res: Resource, denied: str) -> None:
        self._add(FORBIDDEN, res, f"{res.ref} in cluster {self.cluster} is synced by Config Sync, but the RBAC "
                  f"authorizer denies its reconciler {denied}", ("kind",))

    def pruned(self, res: Resource) -> None:
        message = (f"{res.ref} is in the base revision but not in this change: pruned by the sync engine from "
                   f"cluster {self.cluster}")
        key = (PRUNED.id, str(res.ref), message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(PRUNED.id, PRUNED.severity, message, self.cluster, res.ref, None, PRUNED.fix,
                                         None))


def _phases(objects: list[Resource]) -> tuple[list[Resource], list[Resource], list[Resource]]:
    """(Namespaces, CRDs of the folder, everything else): each applied before the next can be checked."""
    namespaces = [r for r in objects if r.kind == "Namespace" and r.api_version == "v1"]
    folder_crds = [r for r in objects if r.kind == "CustomResourceDefinition"]
    early = {id(r) for r in namespaces + folder_crds}
    rest = [r for r in objects if id(r) not in early]
    return namespaces, folder_crds, rest


def _missing_namespaces(objects: list[Resource], declared: set[str]) -> list[str]:
    """Namespaces of bootstrap objects that no folder declares: the sync engine's install makes them."""
    return sorted({r.namespace for r in objects if r.origin and r.origin.startswith(f"{bootstrap.BOOTSTRAP_DIR}/")
                   and r.namespace and r.namespace not in declared})


def _apply_for_real(server: Server, checker: Checker, items: list[Resource], report: bool) -> dict[int, dict[str, Any]]:
    """Apply each object in the form that cannot make the server call out (callouts.neutral; an object that
    can only be dry-run is skipped); {index: the object as the server stored it} of those it accepted."""
    stored: dict[int, dict[str, Any]] = {}
    for i, res in enumerate(items):
        body = callouts.neutral(res.body)
        if body is None:
            continue
        outcome = server.apply(body, dry_run=False)
        if outcome.ok:
            stored[i] = outcome.body
            if report:
                checker.warned(res, outcome)
        elif report:
            checker.refused(res, outcome)
    return stored


def _dry_run(server: Server, checker: Checker, items: list[Resource], upgrade: bool = False) -> list[Resource]:
    """Dry-run each object as written; report refusals and warnings; return those the server accepted."""
    accepted = []
    for res in items:
        outcome = server.apply(res.body, dry_run=True)
        if outcome.ok:
            checker.warned(res, outcome)
            accepted.append(res)
        else:
            checker.refused(res, outcome, upgrade=upgrade)
    return accepted


_VOLATILE = ("resourceVersion", "managedFields")


def _difference(a: Any, b: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The first path where two stored copies of an object differ (resourceVersion and managedFields aside).

    `status` is not compared: the server's own controllers write it between the two applies (a CRD's
    acceptedNames and conditions, an APIService's availability), and an apply never sets it."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if (path == ("metadata",) and key in _VOLATILE) or (path == () and key == "status"):
                continue
            if key not in a or key not in b:
                return (*path, key)
            found = _difference(a[key], b[key], (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b)):
            found = _difference(x, y, (*path, i))
            if found is not None:
                return found
        return None
    return None if a == b else path


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def install_crds(server: Server, crd_bodies: list[dict[str, Any]], cluster: str) -> None:
    for locked in crd_bodies:
        body = callouts.neutral(locked) or locked  # a locked CRD with a conversion webhook: converting nothing
        outcome = server.apply(body, dry_run=False)
        if not outcome.ok:
            raise ToolError(f"cluster {cluster}: CRD {body['metadata']['name']} was refused by kube-apiserver: "
                            f"{outcome.body.get('message')}")
    late = server.wait_established([b["metadata"]["name"] for b in crd_bodies], CRD_TIMEOUT)
    if late:
        raise ToolError(f"cluster {cluster}: CRDs not Established within {CRD_TIMEOUT:g} s: {', '.join(late)}")


def needed_crds(crd_bodies: list[dict[str, Any]], objects: list[Resource]) -> list[dict[str, Any]]:
    """The CRDs that serve a kind the cluster's objects use. Each CRD costs the apiserver about a second of
    CPU to establish, and one that serves nothing the cluster applies changes no answer."""
    used = {(r.group, r.kind) for r in objects}
    return [b for b in crd_bodies
            if (b["spec"]["group"], b["spec"]["names"]["kind"]) in used]


def namespace_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def check_cluster(job: Job, api: controlplane.ApiServer, workdir: Path, crd_bodies: list[dict[str, Any]],
                  sources: SourceMap) -> tuple[list[Finding], float]:
    """Every step for one cluster on its own apiserver; (findings, seconds the CRDs took)."""
    server = Server(api, workdir)
    checker = Checker(job.cluster.name, sources)
    try:
        start = time.monotonic()
        install_crds(server, needed_crds(crd_bodies, job.objects + (job.base or [])), job.cluster.name)
        crd_seconds = time.monotonic() - start
        namespaces, folder_crds, rest = _phases(job.objects)
        # Objects that would make the server call out are reported once, and dry-run as written; the CRDs
        # among them are then applied for real without their conversion webhook (_apply_for_real).
        calling = [(r, call) for r in job.objects if (call := callouts.call_out(r.body)) is not None]
        for res, call in calling:
            checker.not_exercised(res, call)
        rewritten = [r for r, call in calling if call.applied is not None]
        declared = {r.name for r in namespaces}
        for name in _missing_namespaces(job.objects, declared):
            server.apply(namespace_object(name), dry_run=False)
        if job.base is not None:
            base_ns, base_crds, base_rest = _phases(job.base)
            for name in _missing_namespaces(job.base, {r.name for r in base_ns}):
                server.apply(namespace_object(name), dry_run=False)
            _apply_for_real(server, checker, base_ns + base_crds, report=False)
            _apply_for_real(server, checker, base_rest, report=False)
            _dry_run(server, checker, rewritten, upgrade=True)
            _apply_for_real(server, checker, namespaces + folder_crds, report=True)
            _dry_run(server, checker, rest, upgrade=True)
            kept = {(r.kind, r.namespace, r.name) for r in job.objects}
            for res in job.base:
                if (res.kind, res.namespace, res.name) not in kept:
                    checker.pruned(res)
            return checker.findings, crd_seconds
        _dry_run(server, checker, rewritten)
        first = _apply_for_real(server, checker, namespaces + folder_crds, report=True)
        if folder_crds:
            server.wait_established([r.name for r in folder_crds], CRD_TIMEOUT)
        accepted = _dry_run(server, checker, rest)
        items = namespaces + folder_crds + accepted
        first = {**first, **{len(namespaces) + len(folder_crds) + i: v
                             for i, v in _apply_for_real(server, checker, accepted, report=True).items()}}
        second = _apply_for_real(server, checker, items, report=False)
        for i, stored in first.items():
            again = second.get(i)
            if again is None or _version(again) == _version(stored):
                continue
            # A new resourceVersion with the same content is the server persisting defaults it had applied
            # on read (CRD status defaults); only a change of content is drift.
            changed = _difference(stored, again)
            if changed is not None:
                checker.drifted(items[i], _version(stored), _version(again), changed)
        _authorised(server, checker, job)
        return checker.findings, crd_seconds
    finally:
        server.close()


def _authorised(server: Server, checker: Checker, job: Job) -> None:
    """A Config Sync cluster's reconciler, with only the roles its RootSync binds, may apply the folder."""
    if job.cluster.sync != "config-sync":
        return
    rootsync = next((r for r in job.objects if r.kind == "RootSync" and r.name == job.cluster.config_sync.root_sync_name
                     and (r.origin or "").startswith(bootstrap.BOOTSTRAP_DIR + "/")), None)
    if rootsync is None:
        return
    folder = [r for r in job.objects if not (r.origin or "").startswith(bootstrap.BOOTSTRAP_DIR + "/")]
    for res, denied in reconciler.refusals(server, rootsync, folder):
        checker.forbidden(res, denied)


# --- the run -----------------------------------------------------------------------------------------

def _selected(root: Path, inv: Inventory, options: Options) -> list[Cluster]:
    names = [c.name for c in inv.clusters]
    if options.clusters:
        unknown = [n for n in options.clusters if n not in names]
        if unknown:
            raise UsageError(f"--clusters: no cluster named {', '.join(unknown)} in inventory.yaml "
                             f"(known: {', '.join(names)})")
        wanted = set(options.clusters)
    elif options.changed_since:
        wanted = inputs.select(inv, root, inputs.changed_files(root, options.changed_since), Closures(root))
    else:
        wanted = set(names)
    return [c for c in inv.clusters if c.name in wanted]


def control_plane_locks(root: Path, clusters: list[Cluster]) -> dict[str, tools.ControlPlaneLock]:
    locks = {}
    for c in clusters:
        lock = tools.CONTROL_PLANES.get(c.kubernetes_version)
        if lock is None:
            raise InputError(f"cluster {c.name}: no control plane is locked for Kubernetes {c.kubernetes_version} "
                             f"(tools.CONTROL_PLANES has {', '.join(sorted(tools.CONTROL_PLANES))}); add a module "
                             "under tools/controlplane/ and an entry", "inventory.yaml", c.line)
        locks[c.kubernetes_version] = lock
    return locks


def ensure_binaries(root: Path, minors: list[str], log: Callable[[str], None]) -> dict[str, tuple[Path, Path]]:
    """{minor: (kube-apiserver, etcd)}, built on first use."""
    out = {}
    for minor in minors:
        lock = tools.CONTROL_PLANES[minor]
        out[minor] = (tools.ensure_built(lock.apiserver, root, log), tools.ensure_built(lock.etcd, root, log))
    return out


def _parallel(requested: int | None, jobs: int) -> int:
    """Two clusters at a time where memory allows (each apiserver needs up to APISERVER_MIB)."""
    if requested:
        return max(1, min(requested, jobs))
    available = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) // 1024
    except OSError:
        available = 0
    fits = max(1, available // (2 * APISERVER_MIB)) if available else 1
    return max(1, min(2, fits, jobs))


class ControlPlanes:
    """The server stage of `gitops e2e` (run.pipeline.e2e_plan): the selected clusters against real control planes;
    every process is stopped when it returns. `log` gets one line per cluster."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.started = 0.0
        self.build_seconds = 0.0

    def preflight(self, run: Run) -> None:
        self.started = time.monotonic()
        netns.check()  # no run without its private network namespace: say so before anything is built
        run.kustomize  # noqa: B018 - first use: a build, which the targets do not count
        self.build_seconds = time.monotonic() - self.started

    def check(self, run: Run, built: dict[str, list[Resource]]) -> tuple[list[Finding], Result]:
        """The overlays' build (`built`) is where findings point (the source map), and says which committed files
        are as rendered; what is applied is the committed folders."""
        root, options, inv, kz, log = run.root, run.options, run.inventory, run.kustomize, self.log
        started, build_seconds = self.started, self.build_seconds
        clusters = _selected(root, inv, options)
        if not clusters:
            return [], Result(inv, [], [], [], time.monotonic() - started, build_seconds, 0.0, 1)
        names = [c.name for c in clusters]
        applied = inputs.committed(root, inv, names, render.expected_files(inv, built, run.scopes))
        locks = control_plane_locks(root, clusters)
        build_start = time.monotonic()
        binaries = ensure_binaries(root, sorted(locks), log)
        build_seconds += time.monotonic() - build_start
        base: dict[str, list[Resource]] | None = None
        if options.base is not None:
            _, commit = git.resolve_base(root, options.base)
            with git.checkout(root, commit) as base_root:
                base = inputs.committed(base_root, inventoryfile.load(base_root), names, None, required=False)
        crd_bodies = all_crds(root, options.crd_mirror)
        jobs = [Job(c, applied[c.name], None if base is None else base[c.name]) for c in clusters]
        parallel = _parallel(options.parallel, len(jobs))
        findings: list[Finding] = []
        runs: list[ClusterRun] = []
        etcd_peak = 0.0
        with ExitStack() as stack:
            stack.enter_context(proc.interruptible())  # every `finally` stops its processes
            # From here on, this thread and every thread and process it starts see only a private loopback.
            stack.enter_context(netns.isolated())
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gitops-e2e-")))
            sa_key = controlplane.service_account_key(workdir)
            etcd_binary = binaries[sorted(locks)[0]][1]
            group = controlplane.Processes()
            stack.callback(group.stop_all)
            etcd = stack.enter_context(controlplane.etcd(etcd_binary, workdir, group))
            lock = threading.Lock()

            def one(index: int, job: Job) -> None:
                try:
                    check_one(index, job)
                except (GitopsError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # an unexpected failure of this run's own machinery: exit 2, no traceback
                    raise ToolError(f"cluster {job.cluster.name}: e2e failed: {exc.__class__.__name__}: {exc}") from None

            def check_one(index: int, job: Job) -> None:
                begin = time.monotonic()
                folder = workdir / f"{index}-{job.cluster.name}"
                sources = context.source_map(root, inv, kz, built)  # one per thread
                with controlplane.apiserver(binaries[job.cluster.kubernetes_version][0], etcd.url,
                                            f"/e2e/{index}-{job.cluster.name}", folder, sa_key, group) as api:
                    ready = time.monotonic() - begin
                    try:
                        found, crd_seconds = check_cluster(job, api, folder, crd_bodies, sources)
                    except GitopsError:
                        raise
                    except Exception as exc:  # the client's own errors (connection, protocol): exit 2, no traceback
                        raise ToolError(f"cluster {job.cluster.name}: kube-apiserver stopped answering "
                                        f"({exc.__class__.__name__}: {str(exc)[:500]}); last lines of {api.log}:\n"
                                        f"{controlplane.log_tail(api.log)}") from None
                    peak = controlplane.peak_rss_mib(api.pid)
                took = time.monotonic() - begin
                with lock:
                    findings.extend(found)
                    runs.append(ClusterRun(job.cluster.name, locks[job.cluster.kubernetes_version].apiserver.version,
                                           len(job.objects), took, ready, crd_seconds, peak))
                log(f"e2e: {job.cluster.name}: {len(job.objects)} objects, {len(found)} finding(s), {took:.1f} s "
                    f"(apiserver ready {ready:.1f} s, CRDs {crd_seconds:.1f} s), apiserver peak {peak:.0f} MiB")

            pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="e2e")
            try:
                futures = [pool.submit(one, i, job) for i, job in enumerate(jobs)]
                for future in futures:
                    future.result()
            except BaseException:
                group.stop_all()  # the other clusters' apiservers too, now: their checks then end at once
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                etcd_peak = controlplane.peak_rss_mib(etcd.pid)
        findings.sort(key=Finding.sort_key)
        runs.sort(key=lambda r: r.cluster)
        return findings, Result(inv, [c.name for c in clusters], findings, runs, time.monotonic() - started,
                                build_seconds, etcd_peak, parallel)


def run(root: Path, options: Options, log: Callable[[str], None] = print) -> Result:
    """e2e over the repository at `root` without waivers (the bench's figures): the one sequencer's e2e plan."""
    result = pipeline.execute(Run(root, options), Built(), pipeline.e2e_plan(ControlPlanes(log), (), waivers=False))
    server: Result = result.server
    return server


def summary(result: Result) -> list[str]:
    """The figures `nox -s e2e` prints next to its targets."""
    n = len(result.runs)
    if not n:
        return ["e2e: no cluster selected, nothing started"]
    built = f" (+{result.build_seconds:.0f} s building tools)" if result.build_seconds >= 1 else ""
    wall = result.wall - result.build_seconds
    lines = [f"e2e: {n} cluster(s) in {wall:.1f} s wall{built} ({result.parallel} at a time), "
             f"peak memory <= {result.peak_mib:.0f} MiB (etcd {result.etcd_peak_mib:.0f} MiB + apiservers + tooling)"]
    if n:
        per = sum(r.seconds for r in result.runs) / n
        lines.append(f"e2e: per cluster {per:.1f} s on average (apiserver start "
                     f"{sum(r.start_seconds for r in result.runs) / n:.1f} s, CRDs "
                     f"{sum(r.crd_seconds for r in result.runs) / n:.1f} s)")
    target = 30.0 if n <= 2 else 90.0 if n <= 10 else None
    if target is not None:
        met = wall <= target and result.peak_mib < 2048
        lines.append(f"e2e target: {n} cluster(s) <= {target:.0f} s wall and < 2048 MiB: "
                     f"{'met' if met else 'NOT met'}")
    return lines
