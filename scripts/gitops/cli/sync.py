"""`gitops sync`: the real Argo CD syncs every Argo CD cluster's folder into throwaway API servers, twice."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops.cli import options, output, runs
from gitops.run import inputs, pipeline
from gitops.sync import rules as sync_rules

HELP = "sync every Argo CD cluster's folder with the real Argo CD into throwaway API servers, twice"


def arguments(sync: argparse.ArgumentParser) -> None:
    sync.add_argument("--clusters", type=lambda v: [c for c in v.split(",") if c], metavar="A,B",
                      help="only these Argo CD clusters (default: all)")
    options.report(sync)
    options.crd_mirror(sync)
    options.kustomize_cli(sync)


def run(root: Path, args: argparse.Namespace) -> int:
    from gitops.sync import engine  # the Kubernetes client is imported only here

    output.check(args, root)
    output.targets(args)  # a usage error before any process starts
    conf = runs.config(root)
    run_ = runs.make(root, conf, clusters=args.clusters, crd_mirror=args.crd_mirror, kustomize_cli=args.kustomize_cli,
                     cache=False)
    checked = list(sync_rules.SYNC_RULES)
    stage = engine.ArgoSync(log=lambda line: print(line, file=sys.stderr, flush=True))
    result = pipeline.execute(run_, inputs.Built(), pipeline.e2e_plan(stage, [r.id for r in checked]))
    code = output.report(args, root, result.findings, [*checked, *pipeline.waivers.RULES],
                         result.server.checked if result.server else [])
    for line in engine.summary_lines(result.server):
        print(line, file=sys.stderr)
    return code
