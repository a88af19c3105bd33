"""The one output writer and the one exit rule of every command that reports.

Every output is rendered before anything is written; every target is checked before the first is written
(a refused path leaves every file as it was); files are replaced atomically (infra/fsio), the GitHub job
summary is appended to, standard output comes last."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from gitops import __version__
from gitops.infra import fsio, settings
from gitops.model.errors import UsageError
from gitops.model.findings import Finding, exit_code
from gitops.model.causes import Change
from gitops.model.rulechanges import RuleChanges
from gitops.model.rules import Rule
from gitops.report import FORMATS, ReportContext


@dataclass(frozen=True)
class Output:
    """One rendered output: to a path (replaced atomically), to stdout (path None), or appended (the job summary)."""

    path: Path | None
    text: str
    append: bool = False


def color(args: argparse.Namespace, path: Path | None = None) -> bool:
    """--color always, or auto: standard output is a terminal and NO_COLOR (no-color.org) is not set."""
    return args.color == "always" or (args.color == "auto" and path is None and args.output_file is None
                                      and sys.stdout.isatty() and not settings.current().no_color)


def targets(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(format, path or None for stdout): --format to --output-file or stdout, then every --output."""
    outputs: list[tuple[str, Path | None]] = [(args.format, args.output_file)]
    outputs += [(fmt, None if path == "-" else Path(path)) for fmt, path in getattr(args, "output", [])]
    if sum(path is None for _, path in outputs) > 1:
        raise UsageError("only one output can go to standard output; give the others a PATH")
    return outputs


def _roots(root: Path) -> tuple[Path, ...]:
    """Folders in which a link on an output path is refused: the checkout a pull request fills."""
    return (Path.cwd(), root)


def check(args: argparse.Namespace, root: Path) -> None:
    """Refuse a bad output path before the run (minutes, for e2e), not after it; checked again when written."""
    paths = [args.output_file] + [Path(p) for _, p in getattr(args, "output", []) if p != "-"]
    for path in paths:
        if path is not None:
            fsio.check_output(path, _roots(root))


def write_all(outputs: Sequence[Output], root: Path) -> None:
    """Check every target first, then write: a refused path leaves every file as it was. Each file is
    written whole (fsio), standard output last."""
    for out in outputs:
        if out.path is not None:
            fsio.check_output(out.path, _roots(root))
    for out in outputs:
        if out.path is not None:
            (fsio.append if out.append else fsio.write_atomic)(out.path, out.text)
    for out in outputs:
        if out.path is None:
            sys.stdout.write(out.text)


def _job_summary(findings: list[Finding], ctx: ReportContext, outputs: list[tuple[str, Path | None]]) -> list[Output]:
    """With the github format in GitHub Actions: the Markdown report, to be appended to $GITHUB_STEP_SUMMARY
    (earlier steps' summaries stay), within what is left of GitHub's 1 MiB per step."""
    from gitops.report import github

    summary_path = settings.current().step_summary
    if not summary_path or not any(fmt == "github" for fmt, _ in outputs):
        return []
    try:
        used = os.stat(summary_path).st_size
    except OSError:
        used = 0
    return [Output(Path(summary_path), github.summary(findings, ctx, github.SUMMARY_MAX_CHARS - used), append=True)]


def report(args: argparse.Namespace, root: Path, findings: list[Finding], rules: Sequence[Rule],
           clusters: Sequence[str], rule_changes: RuleChanges | None = None, change: Change | None = None) -> int:
    """Render every requested format (and the job summary), write them all, and return the exit code."""
    outputs = targets(args)
    ctx = ReportContext(rules=rules, clusters=clusters, tool_version=__version__, rule_changes=rule_changes,
                        change=change)
    rendered = [Output(path, FORMATS[fmt](findings, replace(ctx, color=color(args, path)))) for fmt, path in outputs]
    write_all(rendered + _job_summary(findings, ctx, outputs), root)
    return exit_code(findings)
