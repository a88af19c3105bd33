"""`gitops merge PARTIAL...`: every policy over every shard's objects, reported as validate reports."""
from __future__ import annotations

import argparse
from pathlib import Path

from gitops.cli import options, output, runs
from gitops.run import inputs, pipeline

HELP = ("run the cross-cluster policies over every shard's partial result (validate --shard K/N) "
        "and report as validate does")


def arguments(mrg: argparse.ArgumentParser) -> None:
    mrg.add_argument("partials", nargs="+", type=Path, metavar="PARTIAL", help="the files of `validate --shard K/N`")
    options.report(mrg)
    options.kustomize_cli(mrg)
    options.rules_base(mrg)


def run(root: Path, args: argparse.Namespace) -> int:
    conf = runs.config(root)
    output.check(args, root)
    base, note = runs.base(root, args.base)
    run_ = runs.make(root, conf, against=base, kustomize_cli=args.kustomize_cli)
    result = pipeline.execute(run_, inputs.Partials(list(args.partials)), pipeline.merge_plan(runs.e2e_rule_ids()))
    return output.report(args, root, result.findings, pipeline.all_rules(conf.policies),
                         [c.name for c in result.inventory.clusters],
                         *runs.compared(root, base, note, conf, result.findings))
