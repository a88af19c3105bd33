"""The one way data flows: inventory -> render (kustomize) -> parse -> schema check -> policies -> waivers.

Each stage is its own module; this one only sequences them and times each stage, which is
what `nox -s bench` prints.
"""
from __future__ import annotations

import gc
import re
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gitops.run.stages import build, policies as engine, schema as schemacheck, waivers
from gitops.run import cache as vcache, render as hydrate, inputs as incremental
from gitops.model import inventory, names
from gitops.infra import kustomizations, owned, schemas, tools
from gitops.infra import progress as progress_mod
from gitops.model.errors import InputError
from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.inventory import Inventory
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Rule
from gitops.infra.progress import Progress
from gitops.run.sourcemap import SourceMap

SCHEMA = Rule("schema", Severity.ERROR, "Every rendered object matches its schema strictly (unknown fields rejected).",
              "The API server or the sync engine rejects the object, or silently drops a misspelled field.",
              "Fix the field named in the message at the line shown; `kubectl explain` names the valid fields.")
UNKNOWN_KIND = Rule("schema-unknown-kind", Severity.ERROR,
                    "Every kind has a schema: a Kubernetes built-in, a locked CRD, or schemas/.",
                    "A kind nothing knows is a typo or a missing CRD, and would never be validated.",
                    "Fix the apiVersion/kind, or add the CRD to crds.lock.yaml (or a schema to schemas/).")
STALE = Rule("rendered-up-to-date", Severity.ERROR,
             "clusters/ and bootstrap/ are what `nox -s render` makes from the overlays and inventory.",
             "The sync engines apply clusters/, so an overlay change that is not rendered never reaches a cluster, "
             "and reviewers would read a diff that is not what clusters get.",
             "Run `nox -s render` and commit the result.")
BUILTIN_RULES: tuple[Rule, ...] = (SCHEMA, UNKNOWN_KIND, STALE, names.NAME)
_SYNCED = ("the sync engines apply the committed clusters/ and bootstrap/, so they must be exactly what the "
           "sources render; run `nox -s render` and commit the result")
# The pipeline's own rules always run at their severity (policies/config.yaml cannot switch them off)...
FIXED_RULES: dict[str, str] = {**{r.id: "it is one of the pipeline's own checks, which always run"
                                  for r in (*BUILTIN_RULES, *waivers.RULES)}, STALE.id: _SYNCED}
# ... and these are never waived: the synced bytes must be the checked bytes, and a waiver cannot cover a waiver.
NEVER_WAIVED: dict[str, str] = {
    STALE.id: _SYNCED,
    waivers.WAIVER_EXPIRED.id: "renew the expired waiver's date (with a reason) or fix what it covered",
    waivers.WAIVER_UNUSED.id: "delete the unused waiver or correct its target",
}

# `nox -s e2e` (e2e.py): what a real kube-apiserver says. Listed with the others, but validate never reports
# them (it runs no server), so they are not among the rules its reports count as checked.
SERVER_REJECTS = Rule(
    "server-rejects", Severity.ERROR,
    "A real kube-apiserver of the cluster's version accepts every object (server-side apply).",
    "Schemas are a model; the API server also checks label syntax, CRD CEL rules, list keys and admission, "
    "and the sync engine fails on what it refuses.",
    "Fix the field the server names at the line shown; `nox -s e2e -- --clusters NAME` re-checks one cluster.")
SERVER_IMMUTABLE = Rule(
    "server-immutable", Severity.ERROR,
    "A change does not modify a field the API server refuses to change on a live object.",
    "Selectors, a Service's clusterIP, volumeClaimTemplates and other immutable fields are refused on "
    "update: the sync stays failed until someone deletes and recreates the object by hand.",
    "Keep the field as it is, or give the object a new name so that the old one is pruned.")
SERVER_WARNING = Rule(
    "server-warning", Severity.WARNING,
    "The API server applies every object without a warning (deprecated APIs, Pod Security).",
    "A deprecated API disappears in a later Kubernetes version; a Pod Security warning becomes a refusal "
    "when the namespace enforces the level.",
    "Move to the API version or settings the warning names.")
SERVER_DRIFT = Rule(
    "server-drift", Severity.ERROR,
    "Applying an object a second time changes nothing (its content as stored stays the same).",
    "An object the server rewrites on every apply shows as out of sync forever, and the sync engine "
    "re-applies it on every loop.",
    "Write the field the way the server stores it (the server's form of quantities, defaults).")
SERVER_PRUNED = Rule(
    "server-pruned", Severity.NOTICE,
    "Objects a change deletes are listed: the sync engine prunes them from the cluster.",
    "Argo CD (prune: true) and Config Sync delete what leaves the folder; that must be intended.",
    "Nothing to fix when the removal is intended.")
SERVER_NOT_EXERCISED = Rule(
    "server-not-exercised", Severity.NOTICE,
    "Objects that make the API server call out (admission webhooks, CRD conversion webhooks, APIServices with a "
    "Service) are checked by a dry run, never registered: e2e does not exercise what they call.",
    "A throwaway API server that registered them would send requests to any address a pull request names "
    "(server-side request forgery from CI); it runs with no network but its own loopback, where no webhook "
    "server runs. The dry run still checks the object's own fields.",
    "Nothing to fix here: test the webhook or aggregated API together with its server.")
E2E_RULES: tuple[Rule, ...] = (SERVER_REJECTS, SERVER_IMMUTABLE, SERVER_WARNING, SERVER_DRIFT, SERVER_PRUNED,
                               SERVER_NOT_EXERCISED)


@dataclass
class Options:
    crd_mirror: str | None = None
    check_stale: bool = True
    workers: int | None = None
    today: date = field(default_factory=date.today)
    changed_since: str | None = None  # git ref: rebuild only the overlays changed since (incremental.py)
    progress: Progress = field(default_factory=progress_mod.disabled)  # the stderr line (progress.py)
    disabled: tuple[str, ...] = ()  # rules switched off in policies/config.yaml: waivers may still name them
    cache: bool = True  # re-use unchanged overlays' builds and schema results from the cache folder (cache.py)
    kustomize_cli: bool = False  # one `kustomize build` process per overlay instead of kbuild (build.py)
    waiver_days: int | None = None  # a waiver's longest lifetime from `today` (policies/config.yaml); None: unchecked


@dataclass
class Result:
    inventory: Inventory
    resources: dict[str, list[Resource]]
    findings: list[Finding]
    timings: dict[str, float]
    rebuilt: frozenset[str]  # clusters built from their overlay (the others: read from clusters/)

    @property
    def objects(self) -> int:
        return sum(len(v) for v in self.resources.values())


cache_dir = owned.cache_dir  # outside the repository by default; GITOPS_CACHE_DIR moves it


def all_rules(policies: tuple[Policy, ...]) -> list[Rule]:
    return [*BUILTIN_RULES, *policies, *waivers.RULES]


def listed_rules(policies: tuple[Policy, ...]) -> list[Rule]:
    """Every rule any command reports: `--list-policies` and the README table."""
    return [*all_rules(policies), *E2E_RULES]


def load_waivers(root: Path, policies: tuple[Policy, ...], disabled: Iterable[str] = (), today: date | None = None,
                 max_days: int | None = None) -> list[waivers.Waiver]:
    """policies/waivers.yaml, where a waiver may name any rule some command reports (validate's or e2e's)
    or a disabled one, except those NEVER_WAIVED; any other id is a typo and bad input. With `today`
    and `max_days`, a waiver expiring later than that is bad input too."""
    return waivers.load(root, [r.id for r in listed_rules(policies)] + list(disabled),
                        waivers.Limits(never=NEVER_WAIVED, today=today, max_days=max_days))


class _Timer:
    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress or progress_mod.disabled()

    @contextmanager
    def stage(self, name: str, clusters: int = 0) -> Iterator[None]:
        self.progress.stage(name, clusters)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def kustomize(root: Path, cli: bool = False) -> build.Kustomize:
    """What builds: the pinned kustomize CLI, and kbuild unless `cli` (`--kustomize-cli`) or it cannot be had."""
    return build.Kustomize(tools.ensure(tools.KUSTOMIZE, root), None if cli else tools.ensure_kbuild(root))


def _prepare(root: Path, cli: bool = False) -> tuple[Inventory, build.Kustomize]:
    inv = inventory.load(root)
    schemas.check_versions(inv)
    return inv, kustomize(root, cli)


def render(root: Path, workers: int | None = None,
           kustomize_cli: bool = False) -> tuple[Inventory, dict[str, list[Resource]]]:
    """Build every overlay; refuse (InputError, exit 2) when an object's name could not be written."""
    inv, kz = _prepare(root, kustomize_cli)
    resources = build.build_all(kz, list(inv.clusters), root, workers)
    bad = name_findings(resources, source_map(root, inv, kz))
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more: run validate to see them all)" if len(bad) > 1 else ""
        raise InputError(f"{first.message}{more}; nothing was written", first.location.path if first.location
                         else None, first.location.line if first.location else None)
    return inv, resources


def _line_has(root: Path, location: SourceLocation | None, word: str) -> bool:
    if location is None:
        return False
    try:
        lines = (root / location.path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    return 0 < location.line <= len(lines) and word in lines[location.line - 1]


def name_findings(resources: dict[str, list[Resource]], sources: SourceMap) -> list[Finding]:
    """An `object-name` finding, at its source line, for every name that Kubernetes (and clusters/) cannot take."""
    out = []
    for items in resources.values():
        for res in items:
            for path, problem in names.problems(res):
                location = sources.locate(res, path)
                if path == ("metadata", "namespace") and not _line_has(sources.root, location, "namespace"):
                    location = sources.kustomization_field(res, "namespace") or location  # a namespace transformer
                out.append(Finding(names.NAME.id, names.NAME.severity,
                                   f"{res.ref} in cluster {res.cluster}: {problem}", res.cluster, res.ref,
                                   ".".join(path), names.NAME.fix, location))
    return out


def source_map(root: Path, inv: Inventory, kz: build.Kustomize, resources: dict[str, list[Resource]] | None = None,
               workers: int | None = None, progress: Progress | None = None) -> SourceMap:
    """Source lines for findings: from each overlay's kustomization tree where that is unambiguous, else from
    kustomize's annotated builds, in parallel and only of the clusters needed (see SourceMap.prefetch)."""
    closures = kustomizations.Closures(root)
    shown = progress or progress_mod.disabled()

    def many(clusters: list[str]) -> dict[str, list[Resource]]:
        shown.stage("source lines", len(clusters))
        return build.build_annotated_all(kz, [inv.cluster(c) for c in clusters], root, workers,
                                         lambda _: shown.advance(), closures)

    return SourceMap(root, lambda cluster: build.build_annotated(kz, inv.cluster(cluster), root, closures),
                     annotated_many=many, resources=resources or {}, closures=closures,
                     overlays={c.name: c.overlay for c in inv.clusters})


def duplicates(root: Path, inv: Inventory, resources: dict[str, list[Resource]],
               rule: Callable[[], Policy], kustomize_cli: bool = False) -> list[Finding]:
    """duplicate-object findings (`rule()`, asked only when there are any), with both sources' lines: what
    makes `render` refuse to write."""
    objects = Objects(inv, resources)
    if not objects.repeats:
        return []
    sources = source_map(root, inv, kustomize(root, kustomize_cli), resources)
    return engine.run_policies([rule()], objects, sources)


_EXTRA = re.compile(r"additional properties? '([^']+)'")


def _schema_findings(problems: list[schemacheck.SchemaProblem], sources: SourceMap) -> list[Finding]:
    out = []
    for p in problems:
        rule = UNKNOWN_KIND if p.missing_schema else SCHEMA
        path = schemacheck.pointer_path(p.pointer)
        field_text = engine.path_text(path)
        if p.missing_schema:
            message = (f"no schema for {p.resource.api_version} {p.resource.kind} in cluster {p.resource.cluster}: "
                       "not a Kubernetes kind of this version, a locked CRD, or a schema under schemas/")
            path = ("kind",)
        else:
            message = f"{p.resource.ref} in cluster {p.resource.cluster}: {field_text or '(object)'}: {p.message}"
            extra = _EXTRA.search(p.message)
            if extra:  # point at the unknown field itself, not at its parent
                path = (*path, extra.group(1))
        out.append(Finding(rule.id, rule.severity, message, p.resource.cluster, p.resource.ref,
                           field_text or None, rule.fix, sources.locate(p.resource, path)))
    return out


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the garbage collector off the rendered objects while the later stages run.

    Every object of every cluster stays alive until the end, so a full collection only re-walks
    them (~100 ms at 200 clusters, often in the middle of the policy stage). Freezing moves what
    exists now out of the collector's view; unfreezing hands it back when validate returns.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def validate(root: Path, policies: tuple[Policy, ...], options: Options) -> Result:
    timer = _Timer(options.progress)
    # Read (and so bounds-check) every file people edit before any build: a bad waivers file fails fast.
    found_waivers = load_waivers(root, policies, options.disabled, options.today, options.waiver_days)
    with ExitStack() as stack:
        with timer.stage("render"):
            inv, kz = _prepare(root, options.kustomize_cli)
            store = vcache.Cache(root, cache_dir(root)) if options.cache and options.changed_since is None else None
            # The bootstrap objects come from the inventory alone: kubeconform checks them while the overlays
            # build. Their CRD schemas (Argo CD's ApplicationSet above all) are most of its work at 50 clusters.
            bootstrap_problems = schema_started(stack, root, inv, _by_cluster(hydrate.bootstrap.objects(inv).values()),
                                                options, store)
            if store is not None:
                resources, rebuilt = store.render(kz, inv, options.workers), None
            elif options.changed_since is None:
                options.progress.stage("render", len(inv.clusters))
                resources, rebuilt = build.build_all(kz, list(inv.clusters), root, options.workers,
                                                     on_built=lambda _: options.progress.advance()), None
            else:
                resources, rebuilt = incremental.render(kz, inv, root, options.changed_since, options.workers)
        with frozen_heap():
            findings = _check(root, policies, options, timer, inv, kz, resources, rebuilt, store, found_waivers,
                              stack, bootstrap_problems)
    return Result(inv, resources, findings, timer.timings,
                  frozenset(resources) if rebuilt is None else frozenset(rebuilt))


def _check(root: Path, policies: tuple[Policy, ...], options: Options, timer: _Timer, inv: Inventory,
           kz: build.Kustomize, resources: dict[str, list[Resource]], rebuilt: set[str] | None,
           store: vcache.Cache | None, found_waivers: list[waivers.Waiver] | None, stack: ExitStack,
           bootstrap_problems: Callable[[], list[schemacheck.SchemaProblem]]) -> list[Finding]:
    """Every stage after render. kubeconform runs in the background while Python checks staleness
    and runs the policies; the schema stage's time is its start plus what is left to wait for."""
    findings: list[Finding] = []
    sources = source_map(root, inv, kz, resources, options.workers, options.progress)
    with timer.stage("schema"):
        to_check = {c: list(items) for c, items in resources.items() if rebuilt is None or c in rebuilt}
        cluster_problems = schema_started(stack, root, inv, to_check, options, store)
    with timer.stage("stale"):
        findings += name_findings(resources if rebuilt is None else {c: resources[c] for c in rebuilt}, sources)
        if options.check_stale:
            findings += stale_findings(root, inv, resources if rebuilt is None else
                                       {c: resources[c] for c in rebuilt}, rebuilt)
    with timer.stage("policies"):
        findings += engine.run_policies(policies, Objects(inv, resources), sources)
    with timer.stage("schema"):
        problems = bootstrap_problems() + cluster_problems()
        sources.prefetch([p.resource for p in problems])
        findings += _schema_findings(problems, sources)
    with timer.stage("waivers"):
        findings = with_waivers(root, policies, options, findings, found_waivers)
    return findings


def _by_cluster(items: Iterable[Resource]) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for res in items:
        out.setdefault(res.cluster, []).append(res)
    return out


def schema_started(stack: ExitStack, root: Path, inv: Inventory, to_check: dict[str, list[Resource]],
                   options: Options, store: vcache.Cache | None) -> Callable[[], list[schemacheck.SchemaProblem]]:
    """Start kubeconform on what the cache has no verdict for (nothing when it has them all); the function
    returned waits for it, records its verdicts in the cache, and returns every problem."""
    known: list[schemacheck.SchemaProblem] = []
    if store is not None:
        to_check, known = store.schema_known(inv, to_check)
    if not to_check:
        return lambda: known
    cache = cache_dir(root)
    problems = stack.enter_context(schemacheck.started(
        tools.ensure(tools.KUBECONFORM, root), inv, to_check,
        lambda minor: schemas.locations(minor, root, cache, options.crd_mirror), options.workers))

    def done() -> list[schemacheck.SchemaProblem]:
        checked = problems()
        if store is not None:
            store.schema_store(inv, to_check, checked)
        return known + checked
    return done


def stale_findings(root: Path, inv: Inventory, resources: dict[str, list[Resource]],
                   clusters: Iterable[str] | None) -> list[Finding]:
    """rendered-up-to-date findings: bootstrap/ and the folders of `clusters` (None: all of clusters/), and
    always the folders under clusters/ that no cluster of the inventory renders."""
    expected = hydrate.expected_files(inv, resources)
    if clusters is not None:
        clusters = [*clusters, *hydrate.foreign_folders(root, inv)]
    return [Finding(STALE.id, STALE.severity, message, cluster, None, None, STALE.fix, loc)
            for _, cluster, loc, message in hydrate.stale(root, expected, clusters)]


def with_waivers(root: Path, policies: tuple[Policy, ...], options: Options, findings: list[Finding],
                 loaded: list[waivers.Waiver] | None = None) -> list[Finding]:
    """The findings, marked by policies/waivers.yaml (`loaded`: already read), plus the waivers' own findings,
    in report order."""
    if loaded is None:
        loaded = load_waivers(root, policies, options.disabled, options.today, options.waiver_days)
    # Waivers of e2e's server-* rules wait for `gitops e2e`: here they would all read as unused.
    e2e_ids = {r.id for r in E2E_RULES}
    findings = findings + waivers.apply(findings, [w for w in loaded if w.rule not in e2e_ids], options.today)
    findings.sort(key=Finding.sort_key)
    return findings
