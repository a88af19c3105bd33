"""Every subprocess the tooling starts (kustomize, kubeconform, git, go, ...) runs through here.

Each has a time limit, and may have a memory ceiling, because the input that drives it comes
from pull requests: a YAML alias bomb or a hanging tool must end the run with a clear message,
not hold CI until its own timeout. A process that runs too long is killed with its whole
process group, so nothing it started lingers.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import ToolError


def _limit_memory(mib: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        limit = mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run(cmd: Sequence[str], *, what: str, timeout: float, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, input: str | bytes | None = None, text: bool = True,
        memory_mib: int | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` to completion, capturing its output; never raises for a non-zero exit (callers read
    `returncode`). Raises ToolError when it cannot start or when it runs past `timeout` seconds."""
    try:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text,
                                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                                preexec_fn=_limit_memory(memory_mib) if memory_mib else None)
    except OSError as exc:
        raise ToolError(f"{what}: cannot start {cmd[0]}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise ToolError(f"{what} did not finish within {timeout:g} s and was stopped") from None
    except BaseException:
        kill(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _prctl():  # type: ignore[no-untyped-def]
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # resolved in the parent: no dlopen after fork
    except (OSError, AttributeError):
        return None


def _die_with_parent(prctl) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """Linux: the child gets SIGKILL when the thread that started it dies, even by SIGKILL (no orphaned servers)."""
    def apply() -> None:
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    return apply


def start(cmd: Sequence[str], *, what: str, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start a long-running server (etcd, kube-apiserver) in a process group of its own, its output
    going to `log`; the caller must `kill` it (in a finally). Raises ToolError when it cannot start."""
    try:
        with open(log, "ab") as out:
            return subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                                    preexec_fn=_die_with_parent(_prctl()))
    except OSError as exc:
        raise ToolError(f"{what}: cannot start {cmd[0]}: {exc.strerror or exc}") from None


def kill(proc: subprocess.Popen) -> None:
    """Stop `proc` and everything in its process group (it was started in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
