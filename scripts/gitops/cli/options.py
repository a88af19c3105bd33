"""The options commands share, each declared once: report outputs, the CRD mirror, kustomize, progress, root,
the rules' base revision."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from gitops.report import FORMATS

COLOR_HELP = "colour the output: auto (when writing to a terminal), always or never"


def output_spec(value: str) -> tuple[str, str]:
    """--output FORMAT=PATH."""
    fmt, sep, path = value.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected FORMAT=PATH, got {value!r}")
    if fmt not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r} (choose from {', '.join(sorted(FORMATS))})")
    return fmt, path


def report(p: argparse.ArgumentParser, formats: Sequence[str] = tuple(sorted(FORMATS)), more: bool = True,
           file_help: str = "write the report here (atomically) instead of stdout") -> None:
    """--format, --output-file, --output FORMAT=PATH (unless not `more`) and --color."""
    p.add_argument("--format", choices=formats, default="text",
                   help="report format (default: text): " + ", ".join(formats))
    p.add_argument("--output-file", type=Path, help=file_help)
    if more:
        p.add_argument("--output", action="append", default=[], metavar="FORMAT=PATH", type=output_spec,
                       help="also write FORMAT to PATH (atomically; '-' is stdout); repeat for several formats "
                            "from one run, e.g. --format github --output sarif=validate.sarif --output junit=validate.xml")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help=COLOR_HELP)


def crd_mirror(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crd-mirror", help="directory or file:// URL with the locked CRD files (offline)")


def kustomize_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kustomize-cli", action="store_true",
                   help="build with one `kustomize build` process per overlay (the reference; the same output, slower) "
                        "instead of kbuild, every overlay in one process")


def progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a one-line progress display on stderr (default: only when stderr is a terminal)")


def rules_base(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", metavar="REF", help="list the rule changes (policies/config.yaml, waivers, policy code, "
                   "crds.lock.yaml, schemas/) since this git revision first in the report (default: the merge base "
                   "of HEAD with main, else origin/main; the report says when there is none)")


def root(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--root", type=Path, default=default,
                        help="repository root (default: the nearest folder upwards with inventory.yaml)")
