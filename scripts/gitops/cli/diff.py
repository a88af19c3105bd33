"""`gitops diff`: what each cluster receives and what the call graph becomes, base vs working tree."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops import diff as diff_formats
from gitops.cli import options, output, runs
from gitops.model.errors import EXIT_FINDINGS, EXIT_OK

HELP = "what each cluster receives and what the call graph becomes, base vs working tree"


def arguments(dif: argparse.ArgumentParser) -> None:
    dif.add_argument("--base", help="git revision to compare with (default: merge base of HEAD with main, "
                                    "else origin/main)")
    options.report(dif, diff_formats.FORMATS, more=False,
                   file_help="write here (atomically); Markdown parts 2.. go to PATH.2, ...")
    dif.add_argument("--max-comment-chars", type=int, default=diff_formats.DEFAULT_MAX_CHARS,
                     help="split Markdown into parts of at most this many characters (PR comment limit)")
    options.crd_mirror(dif)
    options.kustomize_cli(dif)


def run(root: Path, args: argparse.Namespace) -> int:
    from gitops.diff import compare, formats  # the diff machinery is imported only here

    output.check(args, root)
    conf = runs.config(root)
    result = compare.run(runs.make(root, conf, crd_mirror=args.crd_mirror, kustomize_cli=args.kustomize_cli), conf,
                         args.base, runs.e2e_rule_ids())
    parts = formats.render(args.format, result, output.color(args), args.max_comment_chars)
    if args.output_file:
        out: Path = args.output_file
        output.write_all([output.Output(formats.part_path(out, i), part) for i, part in enumerate(parts, 1)], root)
        stale = len(parts) + 1
        while formats.wrote(formats.part_path(out, stale), stale):  # parts of a longer earlier run, only
            formats.part_path(out, stale).unlink(missing_ok=True)
            stale += 1
    else:
        sys.stdout.write("\n".join(parts))
    return EXIT_FINDINGS if result.changed else EXIT_OK  # 1: some cluster receives a change
