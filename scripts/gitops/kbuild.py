"""kustomize in one long-lived process: the talk with tools/kbuild, a small Go program that links
the kustomize API (sigs.k8s.io/kustomize/api/krusty) at the version the pinned CLI is built from.

Why: one `kustomize build` process per overlay pays process start, kustomize's OpenAPI setup and
a fresh read of every shared base each time. kbuild takes the overlay list on stdin, builds the
overlays concurrently over one caching filesystem, and streams each build back in input order,
framed as `#kbuild <index> ok|error <bytes>\\n` followed by that many bytes: the YAML
`kustomize build` prints, or the error it prints after "Error: ". Same options as the CLI here:
load restrictor on, no exec, Go or Helm plugins. The CLI stays available (`--kustomize-cli`) and
is the reference the equivalence tests compare with.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from . import proc
from .errors import ToolError

NAME = "kbuild"
SOURCE = Path(__file__).resolve().parents[2] / "tools" / NAME  # go.mod, go.sum, main.go
TIMEOUT = 300.0  # seconds for the batch's first overlay, plus PER_OVERLAY for each
PER_OVERLAY = 5.0
_FRAME = re.compile(rb"#kbuild (\d+) (ok|error) (\d+)\n")
# kustomize allocates heavily; collecting less often cuts its CPU time (see build.py).
_ENV = {**os.environ, "GOGC": os.environ.get("GOGC", "400")}


def is_kbuild(binary: Path) -> bool:
    """True when `binary` is this program rather than the kustomize CLI (build.py picks the protocol)."""
    return binary.name == NAME


def build_many(binary: Path, targets: Sequence[Path], workers: int | None = None) -> list[tuple[bool, str]]:
    """(ok, text) per target, in order: the built YAML, or kustomize's error message."""
    if not targets:
        return []
    for t in targets:
        if "\n" in str(t) or "\0" in str(t):
            raise ToolError(f"overlay path {str(t)!r} holds a line break; it cannot be passed to {NAME}")
    cmd = [str(binary), "-j", str(workers or max(2, os.cpu_count() or 2))]
    stdin = "".join(f"{t}\n" for t in targets).encode()
    done = proc.run(cmd, what=f"{NAME} (kustomize API) build of {len(targets)} overlay(s)",
                    timeout=TIMEOUT + PER_OVERLAY * len(targets), env=_ENV, input=stdin, text=False)
    if done.returncode != 0:
        raise ToolError(f"{NAME} failed (exit {done.returncode}): "
                        f"{done.stderr.decode('utf-8', 'replace').strip() or 'no message'}")
    return _frames(done.stdout, len(targets))


def _frames(out: bytes, count: int) -> list[tuple[bool, str]]:
    """Split kbuild's output; anything off-protocol is a tool failure, never half a result."""
    results: list[tuple[bool, str]] = []
    pos = 0
    while pos < len(out):
        head = _FRAME.match(out, pos)
        if head is None or int(head.group(1)) != len(results):
            raise ToolError(f"{NAME} wrote output that is not a frame at byte {pos}")
        start, size = head.end(), int(head.group(3))
        if start + size > len(out):
            raise ToolError(f"{NAME} output ends inside the build of overlay {len(results)}")
        try:
            text = out[start:start + size].decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{NAME} output for overlay {len(results)} is not UTF-8") from None
        results.append((head.group(2) == b"ok", text))
        pos = start + size
    if len(results) != count:
        raise ToolError(f"{NAME} answered {len(results)} of {count} overlays")
    return results
