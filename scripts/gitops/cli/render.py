"""`gitops render`: write clusters/<name>/ and bootstrap/ from the overlays and inventory."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops.cli import options
from gitops.model import textsafe
from gitops.model.errors import EXIT_FINDINGS, EXIT_OK
from gitops.run import inputs, pipeline
from gitops.run.context import Options, Run

HELP = "write clusters/<name>/ and bootstrap/ from the overlays and inventory"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-on-change", action="store_true",
                   help="exit 1 when a file was rewritten, as formatters do (the pre-commit hook uses this)")
    options.kustomize_cli(p)


def run(root: Path, args: argparse.Namespace) -> int:
    result = pipeline.execute(Run(root, Options(kustomize_cli=args.kustomize_cli, cache=False)), inputs.Built(),
                              pipeline.RENDER)
    if result.findings:  # duplicates: which of the two would the sync engine apply? Nobody can say, so write nothing.
        for f in result.findings:
            print(textsafe.log_lines(f"error: {textsafe.name(f.where())}: {f.message} [{f.rule}]"), file=sys.stderr)
            for also in f.related:
                print(textsafe.log_lines(f"  also: {textsafe.name(str(also.location))} ({also.note})"),
                      file=sys.stderr)
        print("render wrote nothing: remove or rename the duplicate objects first", file=sys.stderr)
        return EXIT_FINDINGS
    for path in result.changed:
        print(f"rendered {path}")
    print(f"{len(result.changed)} file(s) changed" if result.changed else "clusters/ and bootstrap/ are up to date")
    return EXIT_FINDINGS if result.changed and getattr(args, "fail_on_change", False) else EXIT_OK
