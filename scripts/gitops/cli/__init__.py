"""Command line: `gitops render|validate|merge|diff|e2e|new|completion` (nox sessions call the same code).

Exit codes: 0 clean (warnings allowed), 1 error findings, 2 bad input, bad usage or a tool failure.
`diff`: 0 when no cluster receives a change, 1 when some do, 2 on error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

# diff, shtab, importlib.metadata and the report formats are imported where used: a warm validate would
# otherwise spend a good part of its time importing them (issue 15).
from gitops import __version__, diff as diffformats
from gitops.infra import fsio, proc, tools
from gitops.run import render as hydrate, pipeline, ruleconfig, rulediff, shard
from gitops.scaffold import new as scaffold
from gitops.model import textsafe
from gitops.run.stages import waivers
from gitops.infra.fsio import write_atomic
from gitops.model.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, GitopsError, UsageError
from gitops.model.findings import Finding, Severity
from gitops.model.inventory import INVENTORY_FILE
from gitops.model.rules import rules_table
from gitops.infra.progress import Progress
from gitops.report import FORMATS, ReportContext
from gitops.model.rulechanges import RuleChanges

VERSION = __version__
COLOR_HELP = "colour the output: auto (when writing to a terminal), always or never"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too, but say it our way
        raise UsageError(f"{self.prog}: {message}")


def version_text() -> str:
    """`gitops --version`: this tool and the pinned versions it checks with."""
    import importlib.metadata

    try:
        k8s = importlib.metadata.version("kubernetes-validate")
    except importlib.metadata.PackageNotFoundError:
        k8s = "not installed"
    lines = [f"gitops {VERSION}"]
    lines += [f"{t.name} {t.version} (pinned)" for t in (tools.KUSTOMIZE, tools.KUBECONFORM)]
    lines.append(f"kubernetes-validate {k8s} (Kubernetes schemas)")
    return "\n".join(lines)


class _Version(argparse.Action):
    """--version, printed as written (argparse's own action re-wraps the lines)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(version_text())
        parser.exit(EXIT_OK)


def find_root(start: Path) -> Path:
    """The nearest folder, from `start` upwards, that holds inventory.yaml: the repository root."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / INVENTORY_FILE).is_file():
            return folder
    raise UsageError(f"no {INVENTORY_FILE} in {start} or any folder above it; run gitops inside the "
                     "repository or pass --root")


def _root_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--root", type=Path, default=default,
                        help="repository root (default: the nearest folder upwards with inventory.yaml)")


def _kustomize_cli_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kustomize-cli", action="store_true",
                   help="build with one `kustomize build` process per overlay (the reference; the same output, slower) "
                        "instead of kbuild, every overlay in one process")


def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-on-change", action="store_true",
                   help="exit 1 when a file was rewritten, as formatters do (the pre-commit hook uses this)")
    _kustomize_cli_option(p)


def _validate_args(val: argparse.ArgumentParser) -> None:
    val.add_argument("--format", choices=sorted(FORMATS), default="text",
                     help="report format (default: text): " + ", ".join(sorted(FORMATS)))
    val.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    val.add_argument("--output", action="append", default=[], metavar="FORMAT=PATH", type=_output,
                     help="also write FORMAT to PATH (atomically; '-' is stdout); repeat for several formats "
                          "from one run, e.g. --format github --output sarif=validate.sarif --output junit=validate.xml")
    val.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="a one-line progress display on stderr (default: only when stderr is a terminal)")
    val.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    val.add_argument("--list-policies", action="store_true", help="print every rule and exit")
    val.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=COLOR_HELP)
    val.add_argument("--changed-since", metavar="REF", help="rebuild only the overlays whose inputs changed since "
                     "this git ref; other clusters are read from their committed clusters/<name>/")
    val.add_argument("--no-cache", action="store_true", help="build and schema-check every overlay afresh "
                     "(default: re-use the cache folder's builds for overlays whose files did not change)")
    _kustomize_cli_option(val)
    _rules_base_option(val)
    val.add_argument("--shard", metavar="K/N", help="build, schema- and stale-check only the K-th of N slices of "
                     "the clusters and write a partial result to --output-file, for `gitops merge`")


def _rules_base_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", metavar="REF", help="list the rule changes (policies/config.yaml, waivers, policy code, "
                   "crds.lock.yaml, schemas/) since this git revision first in the report (default: the merge base "
                   "of HEAD with main, else origin/main; the report says when there is none)")


def _merge_args(mrg: argparse.ArgumentParser) -> None:
    mrg.add_argument("partials", nargs="+", type=Path, metavar="PARTIAL", help="the files of `validate --shard K/N`")
    mrg.add_argument("--format", choices=sorted(FORMATS), default="text",
                     help="report format (default: text): " + ", ".join(sorted(FORMATS)))
    mrg.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    mrg.add_argument("--output", action="append", default=[], metavar="FORMAT=PATH", type=_output,
                     help="also write FORMAT to PATH (atomically; '-' is stdout); repeatable, as for validate")
    mrg.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=COLOR_HELP)
    _kustomize_cli_option(mrg)
    _rules_base_option(mrg)


def _diff_args(dif: argparse.ArgumentParser) -> None:
    dif.add_argument("--base", help="git revision to compare with (default: merge base of HEAD with main, "
                                    "else origin/main)")
    dif.add_argument("--format", choices=diffformats.FORMATS, default="text",
                     help="report format (default: text): " + ", ".join(diffformats.FORMATS))
    dif.add_argument("--output-file", type=Path, help="write here (atomically); Markdown parts 2.. go to PATH.2, ...")
    dif.add_argument("--max-comment-chars", type=int, default=diffformats.DEFAULT_MAX_CHARS,
                     help="split Markdown into parts of at most this many characters (PR comment limit)")
    dif.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    dif.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=COLOR_HELP)
    _kustomize_cli_option(dif)


def _e2e_args(e2e: argparse.ArgumentParser) -> None:
    e2e.add_argument("--clusters", type=lambda v: [c for c in v.split(",") if c], metavar="A,B",
                     help="only these clusters (default: all)")
    e2e.add_argument("--changed-since", metavar="REF", help="only the clusters whose inputs changed since REF")
    e2e.add_argument("--base", metavar="REF", help="upgrade check: apply REF's folders for real, then dry-run "
                                                  "the working tree over them (immutable fields, pruned objects)")
    e2e.add_argument("--parallel", type=int, help="clusters at a time (default: 2 where memory allows)")
    e2e.add_argument("--format", choices=sorted(FORMATS), default="text",
                     help="report format (default: text): " + ", ".join(sorted(FORMATS)))
    e2e.add_argument("--output-file", type=Path, help="write the report here (atomically) instead of stdout")
    e2e.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")
    e2e.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=COLOR_HELP)
    _kustomize_cli_option(e2e)


def _new_args(p: argparse.ArgumentParser) -> None:
    _kustomize_cli_option(p)  # for the render that follows the edit
    scaffold.add_arguments(p)


def _completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell to print a completion script for")


@dataclass(frozen=True)
class Command:
    """One subcommand: adding one is one entry in COMMANDS."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Path, argparse.Namespace], int]
    needs_root: bool = True


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gitops", description="Render and validate a GitOps repository across its clusters "
                     "(the nox sessions run the same code).",
                     epilog="exit codes: 0 clean, 1 error findings (diff: some cluster changes), 2 bad input, "
                     "bad usage or a tool failure")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the tool's version and the pinned kustomize, kubeconform and schema versions")
    _root_option(parser, None)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an unexpected error (accepted anywhere on the line)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(p)
        if command.needs_root:
            _root_after(p)
    return parser


def _output(value: str) -> tuple[str, str]:
    fmt, sep, path = value.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected FORMAT=PATH, got {value!r}")
    if fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r} (choose from {', '.join(sorted(FORMATS))})")
    return fmt, path


def _config(root: Path) -> ruleconfig.Config:
    """The registry as policies/config.yaml configures it (severities, disabled rules, parameters); the
    pipeline's own rules cannot be configured."""
    return ruleconfig.load(root, _registry(root), pipeline.FIXED_RULES)


def _options(config: ruleconfig.Config, **given: object) -> pipeline.Options:
    """The run's options with what policies/config.yaml decides: disabled rules and the waivers' lifetime."""
    return pipeline.Options(disabled=tuple(p.id for p in config.disabled), waiver_days=config.waiver_days,
                            **given)  # type: ignore[arg-type]


def _rule_changes(root: Path, args: argparse.Namespace, config: ruleconfig.Config,
                  result: pipeline.Result) -> RuleChanges:
    """The rule changes since --base (or the merge base with main), with the reach of added waivers."""
    return rulediff.against(root, args.base, config, _registry(root), result.findings)


def _root_after(parser: argparse.ArgumentParser) -> None:
    """--root accepted after the subcommand too (and after a nested one such as `new cluster`)."""
    _root_option(parser, argparse.SUPPRESS)  # SUPPRESS: a --root given before the subcommand stays
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _root_after(nested)


def _completion(_root: Path | None, args: argparse.Namespace) -> int:
    import shtab

    sys.stdout.write(shtab.complete(_parser(), shell=args.shell))
    return EXIT_OK


def _registry(root: Path) -> tuple:
    """The rule registry: the installed `policies` package, else the repository's own policies/ folder
    (`python -m gitops` run with only scripts/ on the path)."""
    try:
        module = importlib.import_module("policies")
    except ModuleNotFoundError as exc:
        if exc.name != "policies" or not (root / "policies" / "__init__.py").is_file():
            raise UsageError("the policies package is not importable: install the tooling with `pip install .` "
                             "or run it through nox") from None
        sys.path.insert(0, str(root))
        module = importlib.import_module("policies")
    return module.REGISTRY


def _render(root: Path, args: argparse.Namespace) -> int:
    inv, resources = pipeline.render(root, kustomize_cli=args.kustomize_cli)
    blockers = pipeline.duplicates(root, inv, resources,
                                   lambda: next(p for p in _registry(root) if p.id == "duplicate-object"),
                                   args.kustomize_cli)
    if blockers:  # which of the two would the sync engine apply? Nobody can say, so write nothing.
        for f in blockers:
            print(textsafe.log_lines(f"error: {textsafe.name(f.where())}: {f.message} [{f.rule}]"), file=sys.stderr)
            for also in f.related:
                print(textsafe.log_lines(f"  also: {textsafe.name(str(also.location))} ({also.note})"),
                      file=sys.stderr)
        print("render wrote nothing: remove or rename the duplicate objects first", file=sys.stderr)
        return EXIT_FINDINGS
    files = hydrate.expected_files(inv, resources)
    changed = hydrate.write(root, files)
    for path in changed:
        print(f"rendered {path}")
    print(f"{len(changed)} file(s) changed" if changed else "clusters/ and bootstrap/ are up to date")
    return EXIT_FINDINGS if changed and getattr(args, "fail_on_change", False) else EXIT_OK


def _color(args: argparse.Namespace, path: Path | None = None) -> bool:
    """--color always, or auto: standard output is a terminal and NO_COLOR (no-color.org) is not set."""
    return args.color == "always" or (args.color == "auto" and path is None and args.output_file is None
                                      and sys.stdout.isatty() and "NO_COLOR" not in os.environ)


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(format, path or None for stdout): --format to --output-file or stdout, then every --output."""
    outputs: list[tuple[str, Path | None]] = [(args.format, args.output_file)]
    outputs += [(fmt, None if path == "-" else Path(path)) for fmt, path in getattr(args, "output", [])]
    if sum(path is None for _, path in outputs) > 1:
        raise UsageError("only one output can go to standard output; give the others a PATH")
    return outputs


def _validate(root: Path, args: argparse.Namespace) -> int:
    config = _config(root)
    policies = config.policies
    rules = pipeline.all_rules(policies)
    if args.list_policies:  # effective values: severities, parameters and disabled rules as configured
        print(rules_table(pipeline.listed_rules(policies), markdown=args.format == "markdown",
                          disabled=config.disabled), end="")
        return EXIT_OK
    options = _options(config, crd_mirror=args.crd_mirror, changed_since=args.changed_since, cache=not args.no_cache,
                       kustomize_cli=args.kustomize_cli)
    _check_outputs(args, root)
    if args.shard is not None:
        k, n = shard.parse_shard(args.shard)
        if args.output_file is None or args.changed_since is not None:
            raise UsageError("--shard K/N writes a partial result: give --output-file PATH (and no --changed-since)")
        shard.write(args.output_file, shard.run(root, options, k, n))
        return EXIT_OK
    outputs = _outputs(args)
    shown = args.progress if args.progress is not None else sys.stderr.isatty()
    with Progress(sys.stderr, enabled=shown) as progress:
        result = pipeline.validate(root, policies, replace(options, progress=progress))
        progress.stage("report")
        rendered = _rendered(result, rules, args, outputs, _rule_changes(root, args, config, result))
    return _write(rendered, result, root)


def _merge(root: Path, args: argparse.Namespace) -> int:
    config = _config(root)
    _check_outputs(args, root)
    options = _options(config, kustomize_cli=args.kustomize_cli)
    result = shard.merge(root, config.policies, options, list(args.partials))
    rendered = _rendered(result, pipeline.all_rules(config.policies), args, _outputs(args),
                         _rule_changes(root, args, config, result))
    return _write(rendered, result, root)


@dataclass(frozen=True)
class _Output:
    """One rendered output: to a path (replaced atomically), to stdout (path None), or appended (the job summary)."""

    path: Path | None
    text: str
    append: bool = False


def _rendered(result: pipeline.Result, rules: list, args: argparse.Namespace,
              outputs: list[tuple[str, Path | None]], rule_changes: RuleChanges | None = None) -> list[_Output]:
    """Every requested output's text (and the GitHub job summary), all rendered before anything is written."""
    ctx = ReportContext(rules=rules, clusters=[c.name for c in result.inventory.clusters], tool_version=VERSION,
                        rule_changes=rule_changes)
    return [_Output(path, FORMATS[fmt](result.findings, replace(ctx, color=_color(args, path)))) for fmt, path in outputs] \
        + _job_summary(result.findings, ctx, outputs)


def _job_summary(findings: list[Finding], ctx: ReportContext, outputs: list[tuple[str, Path | None]]) -> list[_Output]:
    """With the github format in GitHub Actions: the Markdown report, to be appended to $GITHUB_STEP_SUMMARY
    (earlier steps' summaries stay), within what is left of GitHub's 1 MiB per step."""
    from gitops.report import github

    summary_path = os.environ.get(github.SUMMARY_ENV)
    if not summary_path or not any(fmt == "github" for fmt, _ in outputs):
        return []
    try:
        used = os.stat(summary_path).st_size
    except OSError:
        used = 0
    return [_Output(Path(summary_path), github.summary(findings, ctx, github.SUMMARY_MAX_CHARS - used), append=True)]


def _output_roots(root: Path) -> tuple[Path, ...]:
    """Folders in which a link on an output path is refused: the checkout a pull request fills."""
    return (Path.cwd(), root)


def _check_outputs(args: argparse.Namespace, root: Path) -> None:
    """Refuse a bad output path before the run (minutes, for e2e), not after it; checked again when written."""
    paths = [args.output_file] + [Path(p) for _, p in getattr(args, "output", []) if p != "-"]
    for path in paths:
        if path is not None:
            fsio.check_output(path, _output_roots(root))


def _write_all(outputs: list[_Output], root: Path) -> None:
    """Check every target first, then write: a refused path leaves every file as it was. Each file is
    written whole (fsio), standard output last."""
    for out in outputs:
        if out.path is not None:
            fsio.check_output(out.path, _output_roots(root))
    for out in outputs:
        if out.path is not None:
            (fsio.append if out.append else write_atomic)(out.path, out.text)
    for out in outputs:
        if out.path is None:
            sys.stdout.write(out.text)


def _write(rendered: list[_Output], result: pipeline.Result, root: Path) -> int:
    _write_all(rendered, root)
    failed = any(f.counts and f.severity is Severity.ERROR for f in result.findings)
    return EXIT_FINDINGS if failed else EXIT_OK


def _diff(root: Path, args: argparse.Namespace) -> int:
    from gitops.diff import compare as diff, formats as diffreport

    _check_outputs(args, root)
    config = _config(root)
    result = diff.run(root, args.base, config, _registry(root),
                      _options(config, crd_mirror=args.crd_mirror, kustomize_cli=args.kustomize_cli))
    parts = diffreport.render(args.format, result, _color(args), args.max_comment_chars)
    if args.output_file:
        out: Path = args.output_file
        _write_all([_Output(diffreport.part_path(out, i), part) for i, part in enumerate(parts, 1)], root)
        stale = len(parts) + 1
        while diffreport.wrote(diffreport.part_path(out, stale), stale):  # parts of a longer earlier run, only
            diffreport.part_path(out, stale).unlink(missing_ok=True)
            stale += 1
    else:
        sys.stdout.write("\n".join(parts))
    return EXIT_FINDINGS if result.changed else EXIT_OK  # 1: some cluster receives a change


def _e2e(root: Path, args: argparse.Namespace) -> int:
    from gitops.e2e import apply as e2e  # the Kubernetes client is imported only here

    if args.changed_since and args.clusters:
        raise UsageError("--clusters and --changed-since choose clusters two ways: give one of them")
    _check_outputs(args, root)
    options = e2e.Options(clusters=args.clusters, changed_since=args.changed_since, base=args.base,
                          crd_mirror=args.crd_mirror, parallel=args.parallel, kustomize_cli=args.kustomize_cli)
    config = _config(root)
    # Read (and so bounds-check) the waivers before any control plane starts; apply those of the rules run.
    loaded = pipeline.load_waivers(root, config.policies, (p.id for p in config.disabled), date.today(),
                                   config.waiver_days)
    result = e2e.run(root, options, log=lambda line: print(line, file=sys.stderr, flush=True))
    checked = e2e.rules_checked(options)
    ids = {r.id for r in checked}
    findings = sorted(result.findings + waivers.apply(result.findings, [w for w in loaded if w.rule in ids],
                                                      date.today()), key=Finding.sort_key)
    ctx = ReportContext(rules=[*checked, *waivers.RULES], clusters=result.checked, color=_color(args),
                        tool_version=VERSION)
    _write_all([_Output(args.output_file, FORMATS[args.format](findings, ctx))], root)
    for line in e2e.summary(result):
        print(line, file=sys.stderr)
    failed = any(f.counts and f.severity is Severity.ERROR for f in findings)
    return EXIT_FINDINGS if failed else EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("render", "write clusters/<name>/ and bootstrap/ from the overlays and inventory", _render_args,
            _render),
    Command("validate", "render in memory and check everything; nothing is written", _validate_args,
            _validate),
    Command("merge", "run the cross-cluster policies over every shard's partial result (validate --shard K/N) "
            "and report as validate does", _merge_args, _merge),
    Command("diff", "what each cluster receives and what the call graph becomes, base vs working tree", _diff_args,
            _diff),
    Command("e2e", "apply every cluster folder to a throwaway etcd + kube-apiserver of its version", _e2e_args,
            _e2e),
    Command("new", "scaffold a cluster, a service or a cross-cluster call (edits YAML, keeps comments)",
            _new_args, lambda root, args: scaffold.run(root, args, lambda: _render(root, args))),
    Command("completion", "print a shell completion script (bash, zsh, tcsh)", _completion_args, _completion,
            needs_root=False),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; never a traceback (unless --debug): an unexpected error is exit 2 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the command
    argv = [a for a in argv if a != "--debug"]
    try:
        with proc.interruptible():  # SIGTERM, SIGINT, SIGHUP: every child killed, every `finally` run, exit 2
            return _main(argv)
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes exit 2
        if debug:
            traceback.print_exc()
        command = next((a for a in argv if a in {c.name for c in COMMANDS}), "gitops")
        detail = textsafe.one_line(str(exc).splitlines()[0]) if str(exc) else ""
        print(f"error: {command} failed unexpectedly: {exc.__class__.__name__}{': ' + detail if detail else ''} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def _error_text(exc: GitopsError) -> str:
    """`error: file:line: message`, shown as findings are (it may quote the repository or a tool's output)."""
    return textsafe.log_lines(f"error: {textsafe.shown(str(exc), textsafe.MAX_ERROR)}")


def _main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        command = next(c for c in COMMANDS if c.name == args.command)
        if not command.needs_root:
            return command.run(None, args)  # type: ignore[arg-type]
        root = args.root.resolve() if args.root is not None else find_root(Path.cwd())
        return command.run(root, args)
    except GitopsError as exc:
        print(_error_text(exc), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted: every process it started was stopped and its temporary files removed",
              file=sys.stderr)
        return EXIT_ERROR


def main_exit() -> None:
    """The `gitops` console script (pyproject.toml [project.scripts])."""
    sys.exit(main())
