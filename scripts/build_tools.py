"""`nox -s tools`: build every pinned Go tool into the tools folder now, one line per tool, instead of on first
use inside a command or a test.

CI runs it before it saves the tools folder and the Go build cache (pushes to main only), so that both hold
everything the tests use, kube-apiserver included. Exit 0 when every tool is there, 2 (one line, no
traceback) when one cannot be built.
"""
from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

from gitops.infra import proc, tools
from heartbeat import heartbeat
from gitops.model.errors import EXIT_ERROR, EXIT_OK, GitopsError

PROJECT = Path(__file__).resolve().parent.parent


def _each(root: Path) -> list[tuple[str, Callable[[], object]]]:
    """(what, build) for every pinned tool: the `go install` ones, our own programs (kbuild, Argo CD's plan and
    miniredis), each control plane's binaries (etcd, shared by the minors, once) and Argo CD."""
    steps: list[tuple[str, Callable[[], object]]] = [
        (f"{tool.name} {tool.version}", partial(tools.ensure, tool, root)) for tool in tools.TOOLS]
    steps += [(f"{own.name} ({tools.own_folder(own)})", partial(_own, own, root))
              for own in (tools.KBUILD, tools.PLAN, tools.MINIREDIS)]
    built = dict.fromkeys(b for lock in tools.CONTROL_PLANES.values() for b in (lock.apiserver, lock.etcd))
    steps += [(f"{b.name} {b.version}", partial(tools.ensure_built, b, root, print)) for b in (*built, tools.ARGOCD)]
    return steps


def _own(program: tools.Own, root: Path) -> Path:
    binary = tools.ensure_own(program, root)
    if binary is None:
        raise GitopsError(f"{program.name} cannot be built here: 'go' is not on PATH; "
                          + tools.GO_FIX.format(folder=tools.tools_dir(root)))
    return binary


def main(root: Path = PROJECT) -> int:
    """Build each tool that is missing or of another version, printing it and the time it took."""
    try:
        with proc.interruptible():
            for what, build in _each(root):
                print(f"{what} ...", flush=True)
                start = time.monotonic()
                with heartbeat(what, start):
                    build()
                print(f"{what}: ready ({time.monotonic() - start:.0f} s)", flush=True)
    except GitopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    print(f"every pinned tool is in {tools.tools_dir(root)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
