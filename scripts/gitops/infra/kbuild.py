"""kustomize in one long-lived process: the talk with tools/kbuild, a small Go program that links the
kustomize API (sigs.k8s.io/kustomize/api/krusty) at the versions the pinned CLI is built from.

Why: one `kustomize build` process per overlay pays process start and kustomize's set-up each time,
re-reads every shared base, and turns the same objects into YAML again in every cluster. kbuild takes
the overlay list on stdin, builds the overlays concurrently, and sends each build back in input order
as soon as it is done, framed as `#kbuild <index> ok|error <bytes>\\n` and that many bytes: the YAML
`kustomize build` prints, or the error it prints after "Error: ". The caller parses one build while
the next are being made. The CLI stays the reference (`--kustomize-cli`); tests compare the two.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Generator, Mapping, Sequence

from gitops.infra import proc
from gitops.model.errors import ToolError

_FRAME = re.compile(rb"#kbuild (\d+) (ok|error) (\d+)\n")
_HEAD_MAX = 64  # bytes of a frame header line


class Stopped(Exception):
    """kbuild ended before answering every overlay (a crash, or the memory ceiling): the first
    `answered` overlays have their builds, the rest need building another way."""

    def __init__(self, answered: int, detail: str) -> None:
        super().__init__(detail)
        self.answered, self.detail = answered, detail


def _why(code: int, errors: str) -> str:
    """Why kbuild ended early, in one line: its exit and the first line it wrote (not a Go stack dump)."""
    if proc.out_of_cpu(code):
        return "stopped at its CPU ceiling, GITOPS_KUSTOMIZE_CPU_SECONDS plus 2 s per overlay"
    first = next((line.strip() for line in errors.splitlines() if line.strip()), "no message")
    return f"exit {code}: {first[:300]}"


def builds(binary: Path, targets: Sequence[Path], *, workers: int, timeout: float, memory_mib: int,
           cpu_seconds: float, env: Mapping[str, str]) -> Generator[tuple[int, bool, str], None, None]:
    """(index, ok, text) for each target, in order and as each is built: the YAML, or kustomize's error.
    kbuild is stopped after `timeout` seconds, or when the iterator is closed (contextlib.closing); past
    `cpu_seconds` of CPU the kernel stops it (Stopped: the CLI then builds the rest, each under its own ceiling)."""
    if not targets:
        return
    for t in targets:
        if "\n" in str(t) or "\r" in str(t) or "\0" in str(t):
            raise ToolError(f"overlay path {str(t)!r} holds a line break; it cannot be passed to kbuild")
    cmd = [str(binary), "-j", str(workers)]
    listing = "".join(f"{t}\n" for t in targets).encode()
    with proc.stream(cmd, what=f"kbuild (kustomize API) build of {len(targets)} overlay(s)",
                     timeout=timeout, input=listing, env=env, memory_mib=memory_mib, cpu_seconds=cpu_seconds) as out:
        for index in range(len(targets)):
            head = out.readline(_HEAD_MAX)
            if not head:
                raise Stopped(index, _why(*out.finish()))
            frame = _FRAME.fullmatch(head)
            if frame is None or int(frame.group(1)) != index:
                raise ToolError(f"kbuild wrote {head[:_HEAD_MAX]!r} where the frame of overlay {index} belongs")
            size = int(frame.group(3))
            body = out.read(size)
            if len(body) != size:
                raise Stopped(index, _why(*out.finish()))
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ToolError(f"kbuild's build of {targets[index]} is not UTF-8") from None
            yield index, frame.group(2) == b"ok", text
        if out.readline(_HEAD_MAX):
            raise ToolError(f"kbuild wrote more than the {len(targets)} builds it was asked for")
