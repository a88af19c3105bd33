"""The run context: what one command's run needs, made once at the command line and handed to the sequencer.

A `Run` holds the repository root, the command's `Options`, the environment's `Settings` (read once), the
configured policies, and, made on first use and then kept: the inventory, the pinned tools (kustomize and
kbuild), the kustomization closures, the cache folder and its store, the kind scopes (the one lookup of the
locked CRDs), the source map, the progress line and the stage timer.
"""
from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from gitops.infra import crds, git, owned, schemas, tools
from gitops.infra import progress as progress_mod
from gitops.infra import inventoryfile
from gitops.infra.kustomizations import Closures
from gitops.infra.progress import Progress
from gitops.infra.settings import Settings, current
from gitops.model.argocd import Verdict
from gitops.model.baseline import Baseline
from gitops.model.errors import GitopsError, UsageError
from gitops.model.inventory import Inventory
from gitops.model.kinds import Scopes
from gitops.model.objects import Objects
from gitops.model.resources import Resource
from gitops.model.rules import Policy, Rule
from gitops.run import baseline as base_revision
from gitops.run import bootstrap, inputs
from gitops.run import cache as vcache
from gitops.run.sourcemap import SourceMap
from gitops.run.stages import argocd as argocd_stage
from gitops.run.stages import build


@dataclass
class Options:
    """What the command line chose, and what policies/config.yaml decides for the run (disabled rules, the
    waivers' longest lifetime). One class for every command: a command leaves alone what it does not use."""

    crd_mirror: str | None = None  # --crd-mirror (else GITOPS_CRD_MIRROR, else the lock's mirror: crds.mirror_of)
    check_stale: bool = True
    workers: int | None = None
    today: date = field(default_factory=date.today)
    changed_since: str | None = None  # git ref: rebuild only the overlays changed since (run/inputs.py)
    progress: Progress = field(default_factory=progress_mod.disabled)  # the stderr line (infra/progress.py)
    disabled: tuple[str, ...] = ()  # rules switched off in policies/config.yaml: waivers may still name them
    cache: bool = True  # re-use unchanged overlays' builds and schema results from the cache folder (run/cache.py)
    kustomize_cli: bool = False  # one `kustomize build` process per overlay instead of kbuild (stages/build.py)
    waiver_days: int | None = None  # a waiver's longest lifetime from `today` (policies/config.yaml); None: unchecked
    # e2e only
    clusters: list[str] | None = None  # --clusters: only these
    base: str | None = None  # upgrade check: apply this revision for real, then dry-run the working tree
    parallel: int | None = None  # clusters at a time; default: 2 where memory allows


class Timer:
    """Seconds per stage (what `nox -s bench` prints), and the progress line's current stage."""

    def __init__(self, progress: Progress) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str, clusters: int = 0) -> Iterator[None]:
        self.progress.stage(name, clusters)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


class Run:
    """One run over the repository at `root`; see the module docstring for what it holds."""

    def __init__(self, root: Path, options: Options | None = None, policies: tuple[Policy, ...] = (),
                 settings: Settings | None = None, listed: tuple[Rule, ...] = (), base: git.Base | None = None) -> None:
        self.root = root
        self.options = options or Options()
        self.policies = policies  # the configured policies this run runs
        self.listed = listed  # every rule some command reports: what a waiver may name
        self.base = base  # the revision the change is compared with (validate's --base, diff's base), if any
        self.settings = settings or current()
        self.timer = Timer(self.options.progress)

    @cached_property
    def inventory(self) -> Inventory:
        return inventoryfile.load(self.root)

    def prepare(self, crds_needed: bool = False, schema: bool | None = None) -> Inventory:
        """The inventory, with a schema folder for every cluster's Kubernetes version, the locked CRDs when the
        run checks schemas (`crds_needed`), and the tools that build: what every run that builds checks first, in
        that order, so bad input or a CRD that cannot be read fails here, before any tool is built."""
        inv = self.inventory
        schemas.check_versions(inv)
        if crds_needed:
            self.crd_schemas()
        self.kustomize  # noqa: B018 - resolved (and built on first use) now, not in the middle of a stage
        if crds_needed if schema is None else schema:  # the schema stage's kubeconform, built here too, saying so
            tools.ensure(tools.KUBECONFORM, self.root, self.options.progress.note)
        return inv

    def crd_schemas(self) -> Path:
        """The locked CRDs converted to schemas: the one CRD lookup (--crd-mirror, GITOPS_CRD_MIRROR, the lock's
        mirror, then the locked URLs; cached), which the schema stage and the kind scopes read too."""
        return crds.materialize(self.root, self.cache_dir, self.options.crd_mirror)

    @cached_property
    def kustomize(self) -> build.Kustomize:
        """What builds: the pinned kustomize CLI, and kbuild unless --kustomize-cli or it cannot be had (a build
        of either says so on stderr, through the progress line)."""
        return kustomize(self.root, self.options.kustomize_cli, self.options.progress.note)

    @cached_property
    def closures(self) -> Closures:
        return Closures(self.root)

    @cached_property
    def cache_dir(self) -> Path:
        return owned.cache_dir(self.root)

    @cached_property
    def store(self) -> vcache.Cache | None:
        """The validate cache (builds and schema verdicts), unless --no-cache or --changed-since."""
        if not self.options.cache or self.options.changed_since is not None:
            return None
        return vcache.Cache(self.root, self.cache_dir)

    @cached_property
    def scopes(self) -> Scopes:
        """Kind scopes: the built-ins, and the locked CRDs' scopes, read once on first need through the run's
        one CRD lookup (--crd-mirror, GITOPS_CRD_MIRROR or the lock's mirror); and the CRDs' plurals, which the
        Config Sync roles name (a run that must name them and cannot read the CRDs stops there)."""
        return Scopes(self._crd_scopes,
                      lambda: crds.plurals(self.root, self.cache_dir, self.options.crd_mirror))

    def _crd_scopes(self) -> Mapping[str, str]:
        try:
            return crds.scopes(self.root, self.cache_dir, self.options.crd_mirror)
        except GitopsError:
            return {}  # the schema stage reports why the CRDs cannot be read

    @cached_property
    def baseline(self) -> Baseline | None:
        """The base revision's clusters (read from git once, on first need), None without a base."""
        return None if self.base is None else base_revision.load(self.root, self.base)

    def objects(self, resources: dict[str, list[Resource]],
                argocd: Callable[[], Verdict | None] | None = None) -> Objects:
        """The index every policy reads, with this run's kind scopes, Argo CD's verdict (the one the pipeline's
        Argo CD stage started: `argocd` waits for it; else evaluated now), the base revision and the committed
        Config Sync bootstrap objects."""
        verdict = argocd() if argocd is not None else argocd_stage.evaluate(self, resources)
        inv = self.inventory
        return Objects(inv, resources, self.scopes, verdict, self.baseline, inputs.committed_bootstrap(self.root, inv))

    def source_map(self, resources: dict[str, list[Resource]] | None = None) -> SourceMap:
        """Source lines for findings: from each overlay's kustomization tree where that is unambiguous, else from
        kustomize's annotated builds, in parallel and only of the clusters needed (see SourceMap.prefetch)."""
        return source_map(self.root, self.inventory, self.kustomize, resources, self.options.workers,
                          self.options.progress, self.closures)

    def registry(self) -> tuple[Policy, ...]:
        return registry(self.root)


def kustomize(root: Path, cli: bool = False, log: tools.Log = tools.to_stderr) -> build.Kustomize:
    """The pinned kustomize CLI, and kbuild unless `cli` (`--kustomize-cli`) or it cannot be had; `log` hears of
    a build."""
    return build.Kustomize(tools.ensure(tools.KUSTOMIZE, root, log), None if cli else tools.ensure_kbuild(root, log))


def source_map(root: Path, inv: Inventory, kz: build.Kustomize, resources: dict[str, list[Resource]] | None = None,
               workers: int | None = None, progress: Progress | None = None,
               closures: Closures | None = None) -> SourceMap:
    """A source map of the repository at `root` (see Run.source_map)."""
    closures = closures or Closures(root)
    shown = progress or progress_mod.disabled()

    def many(clusters: list[str]) -> dict[str, list[Resource]]:
        shown.stage("source lines", len(clusters))
        return build.build_annotated_all(kz, [inv.cluster(c) for c in clusters], root, workers,
                                         lambda _: shown.advance(), closures)

    return SourceMap(root, lambda cluster: build.build_annotated(kz, inv.cluster(cluster), root, closures),
                     annotated_many=many, resources=resources or {}, closures=closures,
                     overlays={c.name: c.overlay for c in inv.clusters})


def registry(root: Path) -> tuple[Policy, ...]:
    """The rule registry: the installed `policies` package, else the repository's own policies/ folder
    (`python -m gitops` run with only scripts/ on the path)."""
    try:
        module: Any = importlib.import_module("policies")
    except ModuleNotFoundError as exc:
        if exc.name != "policies" or not (root / "policies" / "__init__.py").is_file():
            raise UsageError("the policies package is not importable: install the tooling with `pip install .` "
                             "or run it through nox") from None
        sys.path.insert(0, str(root))
        module = importlib.import_module("policies")
    return tuple(module.REGISTRY)
