"""`gitops e2e`: every cluster folder applied to a throwaway etcd + kube-apiserver of its version."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops.cli import options, output, runs
from gitops.e2e import rules as e2e_rules
from gitops.model.errors import UsageError
from gitops.run import inputs, pipeline

HELP = "apply every cluster folder to a throwaway etcd + kube-apiserver of its version"


def arguments(e2e: argparse.ArgumentParser) -> None:
    e2e.add_argument("--clusters", type=lambda v: [c for c in v.split(",") if c], metavar="A,B",
                     help="only these clusters (default: all)")
    e2e.add_argument("--changed-since", metavar="REF", help="only the clusters whose inputs changed since REF")
    e2e.add_argument("--base", metavar="REF", help="upgrade check: apply REF's folders for real, then dry-run "
                                                  "the working tree over them (immutable fields, pruned objects)")
    e2e.add_argument("--parallel", type=int, help="clusters at a time (default: 2 where memory allows)")
    options.report(e2e)
    options.crd_mirror(e2e)
    options.kustomize_cli(e2e)


def run(root: Path, args: argparse.Namespace) -> int:
    from gitops.e2e import apply  # the Kubernetes client is imported only here

    if args.changed_since and args.clusters:
        raise UsageError("--clusters and --changed-since choose clusters two ways: give one of them")
    output.check(args, root)
    output.targets(args)  # a usage error before any control plane starts
    conf = runs.config(root)
    run_ = runs.make(root, conf, clusters=args.clusters, changed_since=args.changed_since, base=args.base,
                     crd_mirror=args.crd_mirror, parallel=args.parallel, kustomize_cli=args.kustomize_cli, cache=False)
    checked = e2e_rules.checked(upgrade=args.base is not None)
    server = apply.ControlPlanes(log=lambda line: print(line, file=sys.stderr, flush=True))
    result = pipeline.execute(run_, inputs.Built(), pipeline.e2e_plan(server, [r.id for r in checked]))
    code = output.report(args, root, result.findings, [*checked, *pipeline.waivers.RULES], result.server.checked)
    for line in apply.summary(result.server):
        print(line, file=sys.stderr)
    return code
