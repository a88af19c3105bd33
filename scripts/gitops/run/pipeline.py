"""The one sequencer: every command's stages, in the one order, written once (`execute`).

    waivers read -> [preflight] -> input (build | cache | changed | partials) -> object names -> stale
    -> policies -> schema (kubeconform, started in the background right after the build) -> [server]
    -> waivers applied -> [write clusters/]

validate, render, shard, merge, diff (one run per revision) and e2e are configurations of it: each command
builds a `Run` (run/context.py), chooses an input (run/inputs.py) and a `Plan`, and formats the `Result`.
Each stage is its own module (run/stages/); this one only orders them and times each stage, which is what
`nox -s bench` prints.
"""
from __future__ import annotations

import gc
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

from gitops.model.argocd import Verdict
from gitops.model.errors import InputError
from gitops.model.findings import Finding
from gitops.model.inventory import Inventory
from gitops.model.resources import Resource
from gitops.model.rules import Policy, Rule
from gitops.run import bootstrap, render
from gitops.run.context import Run
from gitops.run.inputs import Input, Loaded
from gitops.run.stages import argocd, names, schema, stale, waivers
from gitops.run.stages import policies as policy_stage

BUILTIN_RULES: tuple[Rule, ...] = (schema.SCHEMA, schema.UNKNOWN_KIND, stale.STALE, names.NAME)
# The pipeline's own rules always run at their severity (policies/config.yaml cannot switch them off)...
FIXED_RULES: dict[str, str] = {**{r.id: "it is one of the pipeline's own checks, which always run"
                                  for r in (*BUILTIN_RULES, *waivers.RULES)}, stale.STALE.id: stale.SYNCED}
# ... and these are never waived: the synced bytes must be the checked bytes, and a waiver cannot cover a waiver.
NEVER_WAIVED: dict[str, str] = {
    stale.STALE.id: stale.SYNCED,
    waivers.WAIVER_EXPIRED.id: "renew the expired waiver's date (with a reason) or fix what it covered",
    waivers.WAIVER_UNUSED.id: "delete the unused waiver or correct its target",
}
DUPLICATE_RULE = "duplicate-object"  # what makes render refuse to write


def all_rules(policies: Iterable[Policy]) -> list[Rule]:
    """The rules validate and merge report (their reports count these as checked)."""
    return [*BUILTIN_RULES, *policies, *waivers.RULES]


class Server(Protocol):
    """A stage that checks the built objects against real servers (e2e/apply.py)."""

    def preflight(self, run: Run) -> None:
        """What must hold before anything is built (e2e: its private network namespace)."""

    def check(self, run: Run, resources: dict[str, list[Resource]]) -> tuple[list[Finding], Any]:
        """(findings, a summary the command prints) for the built objects."""


@dataclass(frozen=True)
class Plan:
    """Which stages a run runs; their order is always execute's."""

    waived: Callable[[str], bool] | None = None  # waivers of the rules this accepts apply; None: no waiver stage
    names: str = "report"  # object names: "report" (findings), "refuse" (bad input: render, e2e) or "off"
    stale: bool = True
    stale_shared: bool = True  # bootstrap/ and folders no cluster renders are this run's to compare
    schema: bool = True
    schema_bootstrap: bool = True  # the bootstrap objects too
    policies: str = "all"  # "all", "duplicates" (render: duplicate-object, only when an object repeats) or "off"
    write: bool = False  # render: write clusters/ and bootstrap/ (nothing while a duplicate blocks it)
    server: Server | None = None


@dataclass
class Result:
    inventory: Inventory
    resources: dict[str, list[Resource]]
    findings: list[Finding]
    timings: dict[str, float]
    rebuilt: frozenset[str]  # clusters built from their overlay (the others: read from clusters/ or partials)
    changed: list[str] = field(default_factory=list)  # render: the files written
    server: Any = None  # e2e: its summary figures

    @property
    def objects(self) -> int:
        return sum(len(v) for v in self.resources.values())


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the garbage collector off the rendered objects while the later stages run.

    Every object of every cluster stays alive until the end, so a full collection only re-walks
    them (~100 ms at 200 clusters, often in the middle of the policy stage). Freezing moves what
    exists now out of the collector's view; unfreezing hands it back when the run returns.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _no_verdict() -> Verdict | None:
    return None


def load_waivers(run: Run) -> list[waivers.Waiver]:
    """policies/waivers.yaml, where a waiver may name any rule some command reports (`run.listed`) or a
    disabled one, except those NEVER_WAIVED; any other id is a typo and bad input. A waiver expiring later
    than policies/config.yaml allows is bad input too."""
    o = run.options
    listed = run.listed or tuple(all_rules(run.policies))
    return waivers.load(run.root, [r.id for r in listed] + list(o.disabled),
                        waivers.Limits(never=NEVER_WAIVED, today=o.today, max_days=o.waiver_days))


def _by_cluster(items: Iterable[Resource]) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for res in items:
        out.setdefault(res.cluster, []).append(res)
    return out


def execute(run: Run, source: Input, plan: Plan) -> Result:
    """Run `plan`'s stages over what `source` gives, in the one order; see the module docstring."""
    timer, o = run.timer, run.options
    # Read (and so bounds-check) every file people edit before any build: a bad waivers file fails fast.
    loaded_waivers = load_waivers(run) if plan.waived is not None else []
    if plan.server is not None:
        plan.server.preflight(run)
    source.read(run)  # what needs no tool (partial files): checked before any tool starts
    with ExitStack() as stack:
        with timer.stage("build"):
            # render and the stale check derive each Config Sync cluster's reconciler roles from the locked CRDs'
            # resource names: they too read the CRDs before any tool is built
            inv = run.prepare(crds_needed=plan.schema or ((plan.write or plan.stale)
                                                         and any(c.sync == "config-sync" for c in run.inventory.clusters)),
                              schema=plan.schema)
            no_problems: Callable[[], list[schema.SchemaProblem]] = list
            bootstrap_problems = no_problems
            if plan.schema and plan.schema_bootstrap:
                # Argo CD's bootstrap objects come from the inventory alone: kubeconform checks them while the
                # overlays build. Their CRD schemas (the ApplicationSet above all) are most of its work at 50 clusters.
                # A Config Sync cluster's (its RootSync and roles) follow from its objects: checked with them.
                bootstrap_problems = _schema_started(run, stack, _by_cluster(bootstrap.argocd_objects(inv).values()))
            # Argo CD's plan program starts now and waits for its request: its start-up overlaps the build.
            evaluation = argocd.start(run, stack) if plan.policies == "all" else None
            loaded = source.load(run)
        with (frozen_heap() if plan.policies == "all" else ExitStack()):
            findings, server = _check(run, plan, stack, loaded, bootstrap_problems, loaded_waivers, evaluation)
        changed: list[str] = []
        if plan.write and not findings:
            changed = render.write(run.root, render.expected_files(inv, loaded.resources, run.scopes))
    return Result(inv, loaded.resources, findings, timer.timings, loaded.rebuilt_or_all(), changed, server)


def _config_sync_objects(run: Run, cluster: str, items: list[Resource]) -> list[Resource]:
    """A Config Sync cluster's bootstrap objects (its RootSync and the roles its objects need)."""
    c = run.inventory.cluster(cluster)
    return list(bootstrap.config_sync_objects(run.inventory, c, items, run.scopes).values()) \
        if c.sync == "config-sync" else []


def _schema_started(run: Run, stack: ExitStack,
                    to_check: dict[str, list[Resource]]) -> Callable[[], list[schema.SchemaProblem]]:
    return schema.start(stack, run.root, run.inventory, to_check, run.store, run.cache_dir, run.options.crd_mirror,
                        run.options.workers)


def _check(run: Run, plan: Plan, stack: ExitStack, loaded: Loaded,
           bootstrap_problems: Callable[[], list[schema.SchemaProblem]],
           loaded_waivers: list[waivers.Waiver], evaluation: argocd.Evaluation | None) -> tuple[list[Finding], Any]:
    """Every stage after the build. kubeconform runs in the background while Python checks names and staleness
    and runs the policies; the schema stage's time is its start plus what is left to wait for."""
    timer, o, resources, rebuilt = run.timer, run.options, loaded.resources, loaded.rebuilt
    findings: list[Finding] = list(loaded.findings)
    mine = resources if rebuilt is None else {c: resources[c] for c in rebuilt}  # what this run built
    argocd_verdict: Callable[[], Verdict | None] = _no_verdict
    if evaluation is not None:
        with timer.stage("argocd"):  # Argo CD's own code evaluates while Python checks names and staleness
            argocd_verdict = evaluation.verdict_for(resources)
    sources = run.source_map(resources)
    cluster_problems: Callable[[], list[schema.SchemaProblem]] = list
    if plan.schema:
        with timer.stage("schema"):
            cluster_problems = _schema_started(run, stack, {c: list(items) + _config_sync_objects(run, c, items)
                                                            for c, items in mine.items()})
    if plan.names == "refuse":
        bad = names.findings(resources, sources)
        if bad:
            first = bad[0]
            more = f" (and {len(bad) - 1} more: run validate to see them all)" if len(bad) > 1 else ""
            raise InputError(f"{first.message}{more}; nothing was written", first.location.path if first.location
                             else None, first.location.line if first.location else None)
    with timer.stage("stale"):
        if plan.names == "report":
            findings += names.findings(mine, sources)
        if plan.stale and o.check_stale:
            found = stale.findings(run.root, run.inventory, mine, rebuilt, run.scopes)
            findings += found if plan.stale_shared else [f for f in found if f.cluster in resources]
    if plan.policies != "off":
        with timer.stage("argocd"):
            argocd_verdict()  # what is left to wait for
        with timer.stage("policies"):
            objects = run.objects(resources, argocd_verdict)
            if plan.policies == "all":
                findings += policy_stage.run_policies(run.policies, objects, sources)
            elif objects.repeats:  # which of the two would the sync engine apply? Nobody can say: render refuses
                duplicate = next(p for p in run.registry() if p.id == DUPLICATE_RULE)
                findings += policy_stage.run_policies([duplicate], objects, sources)
    if plan.schema:
        with timer.stage("schema"):
            problems = bootstrap_problems() + cluster_problems()
            sources.prefetch([p.resource for p in problems])
            findings += schema.findings(problems, sources)
    server = None
    if plan.server is not None:
        found, server = plan.server.check(run, resources)
        findings += found
    if plan.waived is not None:
        with timer.stage("waivers"):
            findings = waivers.applied(findings, loaded_waivers, o.today, plan.waived)
    return findings, server


# --- the plans of the commands ----------------------------------------------------------------------

def validate_plan(e2e_rules: Iterable[str] = ()) -> Plan:
    """validate (and each revision of diff): every stage; waivers of e2e's server-* rules wait for e2e, where
    they would not all read as unused."""
    later = frozenset(e2e_rules)
    return Plan(waived=lambda rule: rule not in later)


RENDER = Plan(names="refuse", stale=False, schema=False, policies="duplicates", write=True)


def shard_plan(shard: int) -> Plan:
    """One shard of `validate --shard K/N`: build, names, stale, schema of its clusters; bootstrap/ and the
    folders no cluster renders in the first shard only; the policies and waivers are merge's."""
    return Plan(policies="off", stale_shared=shard == 1, schema_bootstrap=shard == 1)


def merge_plan(e2e_rules: Iterable[str] = ()) -> Plan:
    """merge: every policy over every shard's objects, then the waivers (the shards' findings are carried)."""
    later = frozenset(e2e_rules)
    return Plan(waived=lambda rule: rule not in later, names="off", stale=False, schema=False)


def e2e_plan(server: Server, rules: Iterable[str], waivers: bool = True) -> Plan:
    """e2e: the overlays built (where findings point; a bad name is bad input), then the server stage; only the
    waivers of the rules it checks apply."""
    checked = frozenset(rules)
    return Plan(waived=(lambda rule: rule in checked) if waivers else None, names="refuse", stale=False,
                schema=False, policies="off", server=server)


# --- for code outside the command line (tests, the bench): one call each ----------------------------

def validate(run_or_root: Any, policies: tuple[Policy, ...] = (), options: Any = None) -> Result:
    """validate the repository (a Run, or a root with policies and Options), built afresh or from the cache."""
    from gitops.run import inputs

    run = run_or_root if isinstance(run_or_root, Run) else Run(run_or_root, options, policies)
    return execute(run, inputs.default(run), validate_plan())


def build(root: Any, kustomize_cli: bool = False) -> tuple[Inventory, dict[str, list[Resource]]]:
    """Build every overlay; refuse (InputError, exit 2) when an object's name could not be written."""
    from gitops.run import inputs
    from gitops.run.context import Options

    run = Run(root, Options(kustomize_cli=kustomize_cli, cache=False))
    result = execute(run, inputs.Built(), Plan(names="refuse", stale=False, schema=False, policies="off"))
    return result.inventory, result.resources
