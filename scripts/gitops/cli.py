"""Command line: `python -m gitops render|validate|diff|e2e` (nox sessions call these).

Exit codes: 0 clean (warnings allowed), 1 error findings, 2 bad input, bad usage or a tool failure.
`diff`: 0 when no cluster receives a change, 1 when some do, 2 on error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import diff, diffreport, hydrate, pipeline
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
    dif = sub.add_parser("diff", help="what each cluster receives and what the call graph becomes, base vs working tree")
    dif.add_argument("--base", help="git revision to compare with (default: merge base of HEAD with main, "
                                    "else origin/main)")
    dif.add_argument("--format", choices=diffreport.FORMATS, default="text")
    dif.add_argument("--output-file", type=Path, help="write here (atomically); Markdown parts 2.. go to PATH.2, ...")
    dif.add_argument("--max-comment-chars", type=int, default=diffreport.DEFAULT_MAX_CHARS,
                     help="split Markdown into parts of at most this many characters (PR comment limit)")
    dif.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    dif.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    e2e = sub.add_parser("e2e", help="apply every cluster folder to a throwaway kube-apiserver of its version")
    e2e.add_argument("--clusters", type=lambda v: [c for c in v.split(",") if c], metavar="A,B",
                     help="only these clusters (default: all)")
    e2e.add_argument("--changed-since", metavar="REF", help="only the clusters whose inputs changed since REF")
    e2e.add_argument("--base", metavar="REF", help="upgrade check: apply REF's folders for real, then dry-run "
                                                  "the working tree over them (immutable fields, pruned objects)")
    e2e.add_argument("--parallel", type=int, help="clusters at a time (default: 2 where memory allows)")
    e2e.add_argument("--format", choices=sorted(FORMATS), default="text")
    e2e.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    e2e.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    e2e.add_argument("--color", choices=("auto", "always", "never"), default="auto")
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
    color = _color(args)
    if args.list_policies:
        print(rules_table(pipeline.listed_rules(policies), markdown=args.format == "markdown"), end="")
        return EXIT_OK
    result = pipeline.validate(root, policies, pipeline.Options(crd_mirror=args.crd_mirror,
                                                                changed_since=args.changed_since))
    ctx = ReportContext(rules=rules, clusters=[c.name for c in result.inventory.clusters], color=color,
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


def _e2e(root: Path, args: argparse.Namespace) -> int:
    from . import e2e  # the Kubernetes client is imported only here

    if args.changed_since and args.clusters:
        raise UsageError("--clusters and --changed-since choose clusters two ways: give one of them")
    options = e2e.Options(clusters=args.clusters, changed_since=args.changed_since, base=args.base,
                          crd_mirror=args.crd_mirror, parallel=args.parallel)
    result = e2e.run(root, options, log=lambda line: print(line, file=sys.stderr, flush=True))
    ctx = ReportContext(rules=e2e.rules_checked(options), clusters=result.checked, color=_color(args),
                        tool_version=VERSION)
    text = FORMATS[args.format](result.findings, ctx)
    if args.output_file:
        write_atomic(args.output_file, text)
    else:
        sys.stdout.write(text)
    for line in e2e.summary(result):
        print(line, file=sys.stderr)
    failed = any(f.counts and f.severity is Severity.ERROR for f in result.findings)
    return EXIT_FINDINGS if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        root = args.root.resolve()
        if args.command == "render":
            return _render(root)
        if args.command == "diff":
            return _diff(root, args)
        if args.command == "e2e":
            return _e2e(root, args)
        return _validate(root, args)
    except GitopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
