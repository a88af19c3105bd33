"""`gitops validate`: build in memory and check everything (or one shard of it); nothing is written."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops.cli import options, output, runs
from gitops.infra.fsio import write_atomic
from gitops.infra.progress import Progress
from gitops.model.errors import EXIT_OK, UsageError
from gitops.model.rules import rules_table
from gitops.run import inputs, pipeline, shard

HELP = "render in memory and check everything; nothing is written"


def arguments(val: argparse.ArgumentParser) -> None:
    options.report(val)
    options.progress(val)
    options.crd_mirror(val)
    val.add_argument("--list-policies", action="store_true", help="print every rule and exit")
    val.add_argument("--changed-since", metavar="REF", help="rebuild only the overlays whose inputs changed since "
                     "this git ref; other clusters are read from their committed clusters/<name>/")
    val.add_argument("--no-cache", action="store_true", help="build and schema-check every overlay afresh "
                     "(default: re-use the cache folder's builds for overlays whose files did not change)")
    options.kustomize_cli(val)
    options.rules_base(val)
    val.add_argument("--shard", metavar="K/N", help="build, schema- and stale-check only the K-th of N slices of "
                     "the clusters and write a partial result to --output-file, for `gitops merge`")


def run(root: Path, args: argparse.Namespace) -> int:
    conf = runs.config(root)
    if args.list_policies:  # effective values: severities, parameters and disabled rules as configured
        print(rules_table(runs.listed_rules(conf.policies), markdown=args.format == "markdown",
                          disabled=conf.disabled), end="")
        return EXIT_OK
    given = dict(crd_mirror=args.crd_mirror, changed_since=args.changed_since, cache=not args.no_cache,
                 kustomize_cli=args.kustomize_cli)
    output.check(args, root)
    if args.shard is not None:
        k, n = shard.parse_shard(args.shard)
        if args.output_file is None or args.changed_since is not None:
            raise UsageError("--shard K/N writes a partial result: give --output-file PATH (and no --changed-since)")
        run_ = runs.make(root, conf, **given)
        result = pipeline.execute(run_, inputs.Shard(k, n), pipeline.shard_plan(k))
        write_atomic(args.output_file, shard.text(shard.partial(run_, k, n, result)))
        return EXIT_OK
    output.targets(args)  # a usage error before the run
    shown = args.progress if args.progress is not None else sys.stderr.isatty()
    base, note = runs.base(root, args.base)
    with Progress(sys.stderr, enabled=shown) as progress:
        run_ = runs.make(root, conf, progress, base, **given)
        result = pipeline.execute(run_, inputs.default(run_), pipeline.validate_plan(runs.e2e_rule_ids()))
        progress.stage("report")
        return output.report(args, root, result.findings, pipeline.all_rules(conf.policies),
                             [c.name for c in result.inventory.clusters],
                             *runs.compared(root, base, note, conf, result.findings))
