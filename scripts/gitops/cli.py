"""Command line: `python -m gitops render|validate|diff` (nox sessions call these).

Exit codes: 0 clean (warnings allowed), 1 error findings, 2 bad input, bad usage or a tool failure.
`diff`: 0 when no cluster receives a change, 1 when some do, 2 on error.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from . import diff, diffreport, hydrate, pipeline
from .fsio import write_atomic
from .errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, GitopsError, UsageError
from .findings import Severity
from .policy import rules_table
from .progress import Progress
from .report import FORMATS, ReportContext, github

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
    val.add_argument("--output", action="append", default=[], metavar="FORMAT=PATH", type=_output,
                     help="also write FORMAT to PATH (atomically; '-' is stdout); repeat for several formats "
                          "from one run, e.g. --format github --output sarif=validate.sarif --output junit=validate.xml")
    val.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="a one-line progress display on stderr (default: only when stderr is a terminal)")
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
    return parser


def _output(value: str) -> tuple[str, str]:
    fmt, sep, path = value.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected FORMAT=PATH, got {value!r}")
    if fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r} (choose from {', '.join(sorted(FORMATS))})")
    return fmt, path


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


def _color(args: argparse.Namespace, path: Path | None = None) -> bool:
    """--color always, or auto: standard output is a terminal and NO_COLOR (no-color.org) is not set."""
    return args.color == "always" or (args.color == "auto" and path is None and args.output_file is None
                                      and sys.stdout.isatty() and "NO_COLOR" not in os.environ)


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(format, path or None for stdout): --format to --output-file or stdout, then every --output."""
    outputs: list[tuple[str, Path | None]] = [(args.format, args.output_file)]
    outputs += [(fmt, None if path == "-" else Path(path)) for fmt, path in args.output]
    if sum(path is None for _, path in outputs) > 1:
        raise UsageError("only one output can go to standard output; give the others a PATH")
    return outputs


def _validate(root: Path, args: argparse.Namespace) -> int:
    policies = _policies()
    rules = pipeline.all_rules(policies)
    if args.list_policies:
        print(rules_table(rules, markdown=args.format == "markdown"), end="")
        return EXIT_OK
    outputs = _outputs(args)
    shown = args.progress if args.progress is not None else sys.stderr.isatty()
    with Progress(sys.stderr, enabled=shown) as progress:
        result = pipeline.validate(root, policies, pipeline.Options(crd_mirror=args.crd_mirror,
                                                                    changed_since=args.changed_since,
                                                                    progress=progress))
        progress.stage("report")
        ctx = ReportContext(rules=rules, clusters=[c.name for c in result.inventory.clusters], tool_version=VERSION)
        rendered = [(path, FORMATS[fmt](result.findings, replace(ctx, color=_color(args, path))))
                    for fmt, path in outputs]
        summary_path = os.environ.get(github.SUMMARY_ENV)
        if summary_path and any(fmt == "github" for fmt, _ in outputs):
            rendered.append((Path(summary_path), github.summary(result.findings, ctx)))
    for path, text in rendered:  # every file is written whole, or not at all
        if path is not None:
            write_atomic(path, text)
    for path, text in rendered:
        if path is None:
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
        return _validate(root, args)
    except GitopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
