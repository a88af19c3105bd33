"""`gitops completion bash|zsh|tcsh`: a shell completion script of the whole command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops.model.errors import EXIT_OK

HELP = "print a shell completion script (bash, zsh, tcsh)"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell to print a completion script for")


def run(_root: Path | None, args: argparse.Namespace) -> int:
    import shtab

    from gitops.cli import parser

    sys.stdout.write(shtab.complete(parser(), shell=args.shell))
    return EXIT_OK
