"""Command line: `python -m gitops render|validate|diff` (nox sessions call these).

Exit codes: 0 clean (warnings allowed), 1 error findings, 2 bad input, bad usage or a tool failure.
`diff`: 0 when no cluster receives a change, 1 when some do, 2 on error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import diff, diffreport, hydrate, pipeline, shard
from .fsio import write_atomic
from .errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, GitopsError, UsageError
from .findings import Severity
from .policy import rules_table
from .report import FORMATS, ReportContext

VERSION = "0.1.0"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too, but say it our way
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gitops", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: current folder)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("render", help="write clusters/<name>/ and bootstrap/ from the overlays and inventory")
    val = sub.add_parser("validate", help="render in memory and check everything; nothing is written")
    val.add_argument("--format", choices=sorted(FORMATS), default="text")
    val.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    val.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    val.add_argument("--list-policies", action="store_true", help="print every rule and exit")
    val.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    val.add_argument("--changed-since", metavar="REF", help="rebuild only the overlays whose inputs changed since "
                     "this git ref; other clusters are read from their committed clusters/<name>/")
    val.add_argument("--no-cache", action="store_true", help="build and schema-check every overlay afresh "
                     "(default: re-use .cache/validate/ for overlays whose files did not change)")
    val.add_argument("--shard", metavar="K/N", help="build, schema- and stale-check only the K-th of N slices of "
                     "the clusters and write a partial result to --output-file, for `gitops merge`")
    mrg = sub.add_parser("merge", help="run the cross-cluster policies over every shard's partial result and report "
                         "as validate does")
    mrg.add_argument("partials", nargs="+", type=Path, metavar="PARTIAL", help="the files of `validate --shard K/N`")
    mrg.add_argument("--format", choices=sorted(FORMATS), default="text")
    mrg.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    mrg.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    dif = sub.add_parser("diff", help="what each cluster receives and what the call graph becomes, base vs working tree")
    dif.add_argument("--base", help="git revision to compare with (default: merge base of HEAD with main, "
                                    "else origin/main)")
    dif.add_argument("--format", choices=diffreport.FORMATS, default="text")
    dif.add_argument("--output-file", type=Path, help="write here (atomically); Markdown parts 2.. go to PATH.2, ...")
    dif.add_argument("--max-comment-chars", type=int, default=diffreport.DEFAULT_MAX_CHARS,
                     help="split Markdown into parts of at most this many characters (PR comment limit)")
    dif.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    dif.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def _policies() -> tuple:
    from policies import REGISTRY  # the registry lives beside the rules, at the repository root

    return REGISTRY


def _render(root: Path) -> int:
    inv, resources = pipeline.render(root)
    files = hydrate.expected_files(inv, resources)
    changed = hydrate.write(root, files)
    for path in changed:
        print(f"rendered {path}")
    print(f"{len(changed)} file(s) changed" if changed else "clusters/ and bootstrap/ are up to date")
    return EXIT_OK


def _color(args: argparse.Namespace) -> bool:
    return args.color == "always" or (args.color == "auto" and args.output_file is None and sys.stdout.isatty())


def _validate(root: Path, args: argparse.Namespace) -> int:
    policies = _policies()
    rules = pipeline.all_rules(policies)
    if args.list_policies:
        print(rules_table(rules, markdown=args.format == "markdown"), end="")
        return EXIT_OK
    options = pipeline.Options(crd_mirror=args.crd_mirror, changed_since=args.changed_since,
                               cache=not args.no_cache)
    if args.shard is not None:
        k, n = shard.parse_shard(args.shard)
        if args.output_file is None or args.changed_since is not None:
            raise UsageError("--shard K/N writes a partial result: give --output-file PATH (and no --changed-since)")
        shard.write(args.output_file, shard.run(root, options, k, n))
        return EXIT_OK
    return _report(pipeline.validate(root, policies, options), rules, args)


def _merge(root: Path, args: argparse.Namespace) -> int:
    policies = _policies()
    result = shard.merge(root, policies, pipeline.Options(), list(args.partials))
    return _report(result, pipeline.all_rules(policies), args)


def _report(result: pipeline.Result, rules: list, args: argparse.Namespace) -> int:
    """Print or write the report; the exit code says whether an error finding counts."""
    ctx = ReportContext(rules=rules, clusters=[c.name for c in result.inventory.clusters], color=_color(args),
                        tool_version=VERSION)
    text = FORMATS[args.format](result.findings, ctx)
    if args.output_file:
        write_atomic(args.output_file, text)
    else:
        sys.stdout.write(text)
    failed = any(f.counts and f.severity is Severity.ERROR for f in result.findings)
    return EXIT_FINDINGS if failed else EXIT_OK


def _diff(root: Path, args: argparse.Namespace) -> int:
    result = diff.run(root, args.base, _policies(), pipeline.Options(crd_mirror=args.crd_mirror))
    parts = diffreport.render(args.format, result, _color(args), args.max_comment_chars)
    if args.output_file:
        out: Path = args.output_file
        for i, part in enumerate(parts, 1):
            write_atomic(out if i == 1 else out.with_name(f"{out.name}.{i}"), part)
        stale = len(parts) + 1
        while out.with_name(f"{out.name}.{stale}").is_file():  # parts of a longer earlier run
            out.with_name(f"{out.name}.{stale}").unlink()
            stale += 1
    else:
        sys.stdout.write("\n".join(parts))
    return EXIT_FINDINGS if result.changed else EXIT_OK  # 1: some cluster receives a change


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        root = args.root.resolve()
        if args.command == "render":
            return _render(root)
        if args.command == "diff":
            return _diff(root, args)
        if args.command == "merge":
            return _merge(root, args)
        return _validate(root, args)
    except GitopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
