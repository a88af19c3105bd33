"""What every command does before and after its run: the rules as policies/config.yaml configures them, the Run, and
what the working tree changed since its base (rules and lines)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops.e2e.rules import E2E_RULES
from gitops.sync.rules import SYNC_RULES
from gitops.infra import git
from gitops.infra.progress import Progress
from gitops.model.rules import Policy, Rule
from gitops.run import change, pipeline, ruleconfig, rulediff
from gitops.run.context import Options, Run, registry
from gitops.model.findings import Finding
from gitops.model.causes import Change
from gitops.model.rulechanges import RuleChanges


def config(root: Path) -> ruleconfig.Config:
    """The registry as policies/config.yaml configures it (severities, disabled rules, parameters); the
    pipeline's own rules cannot be configured."""
    return ruleconfig.load(root, registry(root), pipeline.FIXED_RULES)


def listed_rules(policies: tuple[Policy, ...]) -> list[Rule]:
    """Every rule any command reports: `--list-policies`, docs/policies.md's table, what a waiver may name."""
    return [*pipeline.all_rules(policies), *E2E_RULES, *SYNC_RULES]


def e2e_rule_ids() -> frozenset[str]:
    """The rules only a run against real servers reports (e2e, sync): validate leaves their waivers alone."""
    return frozenset(r.id for r in (*E2E_RULES, *SYNC_RULES))


def make(root: Path, conf: ruleconfig.Config, progress: Progress | None = None, against: git.Base | None = None,
         **given: Any) -> Run:
    """The command's Run: its options, with what policies/config.yaml decides (disabled rules, the waivers'
    lifetime), the configured policies, every rule a waiver may name, and the base revision it compares with."""
    options = Options(disabled=tuple(p.id for p in conf.disabled), waiver_days=conf.waiver_days, **given)
    if progress is not None:
        options.progress = progress
    return Run(root, options, conf.policies, listed=tuple(listed_rules(conf.policies)), base=against)


def base(root: Path, ref: str | None) -> tuple[git.Base | None, str]:
    """The one base lookup of validate and merge (--base REF, else the merge base with main): the rule changes,
    the causes and the destructive-change rule compare with it; without one, the reason."""
    return git.base_of(root, ref, rulediff.WHAT)


def compared(root: Path, base: git.Base | None, note: str, conf: ruleconfig.Config,
             findings: list[Finding]) -> tuple[RuleChanges, Change]:
    """The rule changes since the base, with the reach of added waivers, and the lines the working tree changed
    since that same base (the causes every report leads with); only `note` without a base."""
    return (rulediff.against(root, base, note, conf, registry(root), findings),
            change.since(root, base, note))
