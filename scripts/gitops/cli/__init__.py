"""Command line: `gitops render|validate|merge|diff|e2e|sync|new|completion` (nox sessions call the same code).

Each command is one module here: it declares its arguments (shared options: options.py), builds its Run and
hands it to run.pipeline's one sequencer, and formats the result (output.py: the one writer and exit rule).

Exit codes: 0 clean (warnings allowed), 1 error findings, 2 bad input, bad usage or a tool failure.
`diff`: 0 when no cluster receives a change, 1 when some do, 2 on error.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn, Sequence

# diff, shtab, importlib.metadata and the report formats are imported where used: a warm validate would
# otherwise spend a good part of its time importing them (issue 15).
from gitops import __version__
from gitops.cli import completion, diff, e2e, merge, new, options, render, sync, validate
from gitops.infra import proc, settings, tools
from gitops.model import textsafe
from gitops.model.errors import EXIT_ERROR, EXIT_OK, GitopsError, UsageError
from gitops.model.inventory import INVENTORY_FILE

VERSION = __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too, but say it our way
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


@dataclass(frozen=True)
class Command:
    """One subcommand: adding one is one module and one entry in COMMANDS."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Path, argparse.Namespace], int]
    needs_root: bool = True


COMMANDS: tuple[Command, ...] = (
    Command("render", render.HELP, render.arguments, render.run),
    Command("validate", validate.HELP, validate.arguments, validate.run),
    Command("merge", merge.HELP, merge.arguments, merge.run),
    Command("diff", diff.HELP, diff.arguments, diff.run),
    Command("e2e", e2e.HELP, e2e.arguments, e2e.run),
    Command("sync", sync.HELP, sync.arguments, sync.run),
    Command("new", new.HELP, new.arguments, new.run),
    Command("completion", completion.HELP, completion.arguments, completion.run, needs_root=False),
)


def parser() -> argparse.ArgumentParser:
    """The whole command line (also what `gitops completion` completes)."""
    top = _Parser(prog="gitops", description="Render and validate a GitOps repository across its clusters "
                  "(the nox sessions run the same code).",
                  epilog="exit codes: 0 clean, 1 error findings (diff: some cluster changes), 2 bad input, "
                  "bad usage or a tool failure")
    top.add_argument("--version", action=_Version, nargs=0,
                     help="print the tool's version and the pinned kustomize, kubeconform and schema versions")
    options.root(top, None)
    top.add_argument("--debug", action="store_true",
                     help="show the traceback of an unexpected error (accepted anywhere on the line)")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(p)
        if command.needs_root:
            _root_after(p)
    return top


def _root_after(parser: argparse.ArgumentParser) -> None:
    """--root accepted after the subcommand too (and after a nested one such as `new cluster`)."""
    options.root(parser, argparse.SUPPRESS)  # SUPPRESS: a --root given before the subcommand stays
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _root_after(nested)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; never a traceback (unless --debug): an unexpected error is exit 2 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the command
    argv = [a for a in argv if a != "--debug"]
    try:
        # The environment is read once, here (infra/settings.py); SIGTERM, SIGINT, SIGHUP: every child killed,
        # every `finally` run, exit 2.
        with settings.active(settings.Settings.from_env()), proc.interruptible():
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
        args = parser().parse_args(argv)
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
