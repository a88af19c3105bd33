"""`gitops new cluster|service|call`: scaffold (edits YAML, keeps comments), then render."""
from __future__ import annotations

import argparse
from pathlib import Path

from gitops.cli import options, render
from gitops.scaffold import new

HELP = "scaffold a cluster, a service or a cross-cluster call (edits YAML, keeps comments)"


def arguments(p: argparse.ArgumentParser) -> None:
    options.kustomize_cli(p)  # for the render that follows the edit
    new.add_arguments(p)


def run(root: Path, args: argparse.Namespace) -> int:
    return new.run(root, args, lambda: render.run(root, args))
