"""Argo CD stage: the ApplicationSet and AppProject evaluated by Argo CD's own code on every validate.

The plan program (tools/argocd/plan, built into the tools folder like kbuild) links Argo CD's ApplicationSet
generators, template rendering and AppProject checks. This stage hands it the bootstrap objects the inventory
renders, the clusters Argo CD would know (one per Argo CD cluster, as the sync run registers them), the folders of
the rendered repository and each Argo CD folder's objects, and makes its answer a `model.argocd.Verdict` on the
policies' `Objects` (the argocd-* policies read it).

Cost (~0.4 s, ~110 MiB) is kept off the run's path: the program starts with the build stage (its Go start-up, ~0.1 s,
overlaps the build) and reads the request once the objects are built, then evaluates while Python checks names and
staleness; a verdict for the same request and program is read back from the validate cache. When the program cannot
run (no Go to build it, a crash, its time limit), the verdict says why, and the policies report that: never a
silent pass.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable

from gitops.infra import proc, tools
from gitops.model.engines import IN_CLUSTER
from gitops.model import argocd
from gitops.model.errors import GitopsError, InputError
from gitops.model.inventory import Inventory
from gitops.model.kinds import Scopes
from gitops.model.resources import Resource
from gitops.run import bootstrap, render

if TYPE_CHECKING:
    from gitops.run.context import Run

POLICIES = ("argocd-applications", "argocd-project-fit")  # the policies that read the verdict
TIMEOUT = 120.0  # the evaluation takes ~0.4 s; a loaded CI machine is slower, a hung one is stopped
MEMORY_MIB = 2048  # address-space ceiling (~110 MiB resident for the repository, ~100 MiB at 10 clusters)
MAX_VERDICT_BYTES = 64 * 1024 * 1024
UNKNOWN_SERVER = "https://{name}.cluster.invalid"  # a registered cluster's address: never contacted
CACHE_KIND = "argocd"  # validate cache entries: the verdict per request and plan program


def wanted(run: Run, policies: bool = True) -> bool:
    """Whether the run needs Argo CD's verdict: an Argo CD cluster, and (with `policies`) one of POLICIES configured."""
    return bool(argocd.argocd_clusters(run.inventory)) and run.inventory.argocd is not None and \
        (not policies or any(p.id in POLICIES for p in run.policies))


def _no_go(root: Any) -> str:
    why = ("'go' is not on PATH to build it" if (tools.TOOLING_ROOT / tools.PLAN.module_dir).is_dir()
           else f"{tools.own_folder(tools.PLAN)} is not at hand (the tooling was installed without it)")
    return (f"the plan program (Argo CD {tools.ARGOCD.version}'s code) is not available: {why}; "
            + tools.GO_FIX.format(folder=tools.tools_dir(root)))


def bootstrap_pair(inv: Inventory) -> tuple[Resource, Resource]:
    """The ApplicationSet and AppProject the inventory renders, placed at their bootstrap/ files."""
    found: dict[str, Resource] = {}
    for path, res in bootstrap.argocd_objects(inv).items():
        if res.kind in ("ApplicationSet", "AppProject"):
            found[res.kind] = Resource(res.cluster, res.body, origin=path)
    return found["ApplicationSet"], found["AppProject"]


def _folders(inv: Inventory, resources: dict[str, list[Resource]]) -> list[str]:
    """The folders of the rendered repository under clusters/, as the repo-server lists them for the git generator:
    render writes clusters/<name>/<namespace or _cluster>/<file>, and git keeps no empty folder, so a cluster
    without objects has no folder (and Argo CD no Application for it)."""
    out: set[str] = set()
    for cluster in inv.clusters:
        for res in resources.get(cluster.name, ()):
            try:
                parent = render.object_path(res).rpartition("/")[0]
            except InputError:
                continue  # a name render refuses: an object-name finding, never a file
            out.update((bootstrap.CLUSTERS_DIR, parent.rpartition("/")[0], parent))
    return sorted(out)


def request(inv: Inventory, resources: dict[str, list[Resource]], scopes: Scopes) -> tuple[dict[str, Any], dict[str, list[Resource]]]:
    """(the plan request, {folder: the objects listed for it, in order}) for the Argo CD clusters."""
    appset, project = bootstrap_pair(inv)
    listed = {argocd.folder(name): list(resources.get(name, ())) for name in argocd.argocd_clusters(inv)}
    objects = {path: [{"group": r.group, "kind": r.kind, "namespace": r.namespace, "name": r.name,
                       "namespaced": not scopes.cluster_scoped(r.group, r.kind)} for r in items]
               for path, items in listed.items()}
    # Argo CD's own cluster is reached as in-cluster (its server); its Secret carries the inventory's name, the
    # rename docs/repository.md describes. The others are registered by name at an address never contacted.
    own = inv.argocd.cluster if inv.argocd is not None else None
    clusters = [{"name": name, "server": IN_CLUSTER if name == own else UNKNOWN_SERVER.format(name=name)}
                for name in argocd.argocd_clusters(inv)]
    return {"applicationSet": appset.body, "appProjects": [project.body], "clusters": clusters,
            "repository": {"url": inv.repository.url, "directories": _folders(inv, resources)},
            "objects": objects}, listed


def decode(doc: Any, listed: dict[str, list[Resource]], appset: Resource, project: Resource,
           source: str) -> argocd.Verdict:
    """The plan's JSON verdict as model data; ValueError when it is not one, or not from the program built from
    `source` (the hash of tools/argocd's go.mod, go.sum and plan/)."""
    def text(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("a text field is not text")
        return value

    def texts(value: Any) -> tuple[str, ...]:
        return tuple(text(v) for v in value or ())

    if not isinstance(doc, dict):
        raise ValueError("not an object")
    if doc.get("source") != source:
        raise ValueError(f"made by a plan program built from other sources ({str(doc.get('source'))[:40]}), not "
                         f"{source}: delete {tools.PLAN.name} from the tools folder to rebuild it")
    apps = []
    for a in doc.get("applications") or ():
        dest = a.get("destination") or {}
        apps.append(argocd.Application(
            name=text(a.get("name", "")), path=text(a.get("path", "")),
            destination=text(dest.get("name") or dest.get("server") or ""), cluster=text(a.get("cluster", "")),
            project=text(a.get("project", "")), invalid=text(a.get("invalid", "")),
            conditions=texts(a.get("conditions")), sync_options=texts(a.get("syncOptions"))))
    refused = []
    for r in doc.get("refused") or ():
        path, index = text(r.get("path", "")), r.get("index")
        items = listed.get(path, [])
        if not isinstance(index, int) or not 0 <= index < len(items):
            raise ValueError(f"a refusal names object {index!r} of {path}")
        refused.append(argocd.Refusal(
            application=text(r.get("application", "")), path=path, index=index, group=text(r.get("group", "")),
            kind=text(r.get("kind", "")), namespace=text(r.get("namespace", "")), name=text(r.get("name", "")),
            field=text(r.get("field", "kind")), message=text(r.get("message", "")), resource=items[index]))
    error = doc.get("generationError") or {}
    return argocd.Verdict(version=text(doc.get("argocd", "")), applications=tuple(apps), refused=tuple(refused),
                          generation_error=text(error.get("message", "")) if isinstance(error, dict) else "",
                          application_set=appset, app_project=project)


class Evaluation:
    """One run's Argo CD evaluation. `start` the program with the build (it waits for its request on stdin), then
    `verdict_for` the built objects: a call that waits for the verdict."""

    def __init__(self, run: Run, stack: ExitStack, policies: bool = True) -> None:
        self.run, self.stack = run, stack
        self.enabled = wanted(run, policies)
        self.started: proc.Started | None = None
        self.out: Any = None
        self.why = ""
        self.installed = False  # no sources of the plan program at all, and the tooling is installed (see Verdict)
        self.source = tools.own_source(tools.PLAN, run.root)

    def start(self) -> None:
        """The plan program, running and waiting for its request: checked against tools/argocd first (its build info;
        built on first use), then started; `why` says what stands in the way."""
        if not self.enabled:
            return
        root = self.run.root
        binary = tools.tools_dir(root) / tools.PLAN.name
        try:
            source = tools.own_module(tools.PLAN, root)
        except GitopsError:
            self.why = _no_go(root)
            self.installed = not tools.in_checkout()
            return
        if shutil.which("go") is not None and not tools.built_from(binary, source, tools.PLAN.package) or \
                not binary.is_file():
            try:
                found = tools.ensure_own(tools.PLAN, root)
            except GitopsError as exc:
                self.why = f"the plan program could not be built: {exc}"
                return
            if found is None:
                self.why = _no_go(root)
                return
        self.out = self.stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
        self.started = proc.start([str(binary)], what="the Argo CD plan program", timeout=TIMEOUT, stdout=self.out,
                                  memory_mib=MEMORY_MIB, input=proc.LATER)
        self.stack.callback(self.started.stop)

    def verdict_for(self, resources: dict[str, list[Resource]]) -> Callable[[], argocd.Verdict | None]:
        """The verdict for `resources` (from the validate cache, or the program given its request now): a call that
        waits for it. None: no Argo CD cluster, or no configured policy that reads it."""
        if not self.enabled:
            return lambda: None
        run = self.run
        inv = run.inventory
        appset, project = bootstrap_pair(inv)

        def unavailable(why: str) -> argocd.Verdict:
            return argocd.Verdict(application_set=appset, app_project=project, unavailable=why,
                                  installed=self.installed)

        body, listed = request(inv, resources, run.scopes)
        data = json.dumps(body, sort_keys=True).encode()
        key = hashlib.sha256(b"\0".join((CACHE_KIND.encode(), self.source.encode(), data))).hexdigest()
        store = run.store
        stored = store.get(CACHE_KIND, key) if store is not None else None
        if stored is not None:
            try:
                known = decode(stored, listed, appset, project, self.source)
                if self.started is not None:
                    self.started.stop()  # started for nothing: the cache knew the answer
                return lambda: known
            except (ValueError, TypeError, AttributeError):
                pass  # an entry of another shape: evaluated again and overwritten
        started, out = self.started, self.out
        if started is None:
            why = self.why
            return lambda: unavailable(why)
        try:
            started.feed(data)
        except GitopsError:
            pass  # it ended early: _collect says why
        answer: list[argocd.Verdict] = []

        def verdict() -> argocd.Verdict:
            if not answer:
                raw, got = _collect(started, out, listed, appset, project, self.source, unavailable)
                answer.append(got)
                if store is not None and raw is not None:
                    store.put(CACHE_KIND, key, raw)
                    store.prune(CACHE_KIND)
            return answer[0]

        return verdict


def _collect(started: proc.Started, out: Any, listed: dict[str, list[Resource]], appset: Resource, project: Resource,
             source: str, unavailable: Callable[[str], argocd.Verdict]) -> tuple[Any, argocd.Verdict]:
    """(the raw answer, the verdict) once the program has ended, or (None, why there is none: its time limit, an exit
    code, a bad answer)."""
    try:
        code, err = started.wait()
    except GitopsError as exc:
        return None, unavailable(str(exc))
    size = os.fstat(out.fileno()).st_size
    if code != 0 or size > MAX_VERDICT_BYTES:
        detail = err.strip().splitlines()[-1] if err.strip() else f"exit code {code}"
        if size > MAX_VERDICT_BYTES:
            detail = f"an answer of more than {MAX_VERDICT_BYTES:,} bytes"
        return None, unavailable(f"the Argo CD plan program failed ({detail[:500]})")
    out.seek(0)
    try:
        raw = json.loads(out.read())
        return raw, decode(raw, listed, appset, project, source)
    except (ValueError, TypeError, AttributeError) as exc:
        return None, unavailable(f"the Argo CD plan program's answer is not a verdict ({exc})")


def start(run: Run, stack: ExitStack, policies: bool = True) -> Evaluation:
    """The run's Argo CD evaluation, its program started (the pipeline calls this with the build)."""
    evaluation = Evaluation(run, stack, policies)
    evaluation.start()
    return evaluation


def evaluate(run: Run, resources: dict[str, list[Resource]]) -> argocd.Verdict | None:
    """The verdict for `resources`, now (code outside the pipeline: tests, one-off Objects)."""
    with ExitStack() as stack:
        return start(run, stack, policies=False).verdict_for(resources)()
