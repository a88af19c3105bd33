"""Every subprocess the tooling starts (kustomize, kubeconform, git, go, ...) runs through here.

Each has a time limit, and may have a memory and a CPU ceiling, because the input that drives it
comes from pull requests: a YAML alias bomb or a hanging tool must end the run with a clear message,
not hold CI until its own timeout. A process that runs too long is killed with its whole
process group, so nothing it started lingers.

Every child also dies with the run: it gets SIGKILL from the kernel when the thread that started it
ends (PR_SET_PDEATHSIG, so also when the run itself is SIGKILLed), and a run that is cancelled
(SIGTERM, SIGINT, `timeout`) kills every child it still has before it unwinds (`interruptible`).
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

from gitops.model.errors import ToolError

MAX_STDERR = 1 << 20  # of a tool's messages kept for an error (the rest says nothing new)
_PR_SET_PDEATHSIG = 1
# Children not known to have ended, by pid. A dict: adding and listing are single operations under the GIL, so a
# signal handler running between two bytecodes of the main thread never meets it half-changed.
_LIVE: dict[int, subprocess.Popen] = {}
_STOPPING = threading.Event()  # set once the run is cancelled: no new child may start
_NESTED: list[Callable[..., None]] = []  # the interruptible() blocks open in the main thread


_LIBC: list = []  # libc, looked up once, in the parent (no dlopen after fork); [None] where there is none
_CLONE_NEWNS, _MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x00020000, 2, 4, 16384, 1 << 18
SHM = b"/dev/shm"


def _libc():  # noqa: ANN202 - a ctypes handle or None
    if not _LIBC:
        try:
            import ctypes  # here, not at the top: only a run that starts a process needs it

            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def _prctl():  # noqa: ANN202 - a ctypes handle or None
    return getattr(_libc(), "prctl", None)


def _child_setup(memory_mib: int | None, cpu_seconds: float | None, private_shm: bool = False) -> Callable[[], None]:
    """What runs in the child between fork and exec: only C calls resolved beforehand (no import, no
    allocation to speak of), as other threads of the parent may hold locks at fork time.

    - SIGKILL when the thread that started it ends (Linux), even when the run is SIGKILLed; if the
      parent already died before that was set up, the child ends at once;
    - an address-space ceiling (RLIMIT_AS) and a CPU-time ceiling (RLIMIT_CPU: SIGXCPU at the limit,
      SIGKILL a second later), when asked for;
    - with `private_shm`, a mount namespace of its own with an empty tmpfs on /dev/shm (needs CAP_SYS_ADMIN): what
      the program writes there (Argo CD's manifests for kubectl apply) is gone with it, even when it is killed."""
    parent, prctl, libc = os.getpid(), _prctl(), _libc()
    memory = memory_mib * 1024 * 1024 if memory_mib else None
    cpu = max(1, int(cpu_seconds)) if cpu_seconds else None
    if private_shm and (libc is None or not hasattr(libc, "unshare")):
        raise ToolError("a private /dev/shm needs Linux")
    unshare, mount = (libc.unshare, libc.mount) if private_shm else (None, None)
    shm_options = b"size=256m,mode=1777"

    def apply() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
        if unshare is not None and mount is not None:
            if unshare(_CLONE_NEWNS) != 0 or mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0 or \
                    mount(b"tmpfs", SHM, b"tmpfs", _MS_NOSUID | _MS_NODEV, shm_options) != 0:
                os._exit(126)  # no private /dev/shm: the program must not run without it
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if cpu is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    return apply


def _popen(cmd: Sequence[str], what: str, *, env: Mapping[str, str] | None = None, memory_mib: int | None = None,
           cpu_seconds: float | None = None, private_shm: bool = False, **kwargs: Any) -> subprocess.Popen[Any]:
    """Popen in a session of its own (so `kill` reaches its children), dying with its parent, under the ceilings
    given; ToolError naming `what` if it cannot start. A cancelled run starts nothing more."""
    if _STOPPING.is_set():
        raise KeyboardInterrupt
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    try:
        popen = subprocess.Popen(list(cmd), env=dict(env) if env is not None else None, start_new_session=True,
                                 preexec_fn=_child_setup(memory_mib, cpu_seconds, private_shm), **kwargs)
    except OSError as exc:
        raise ToolError(f"{what}: cannot start {cmd[0]}: {exc.strerror or exc}") from None
    _LIVE[popen.pid] = popen
    return popen


def out_of_cpu(returncode: int) -> bool:
    """Whether a process run with a CPU ceiling ended by it (SIGXCPU at the soft limit, SIGKILL at the hard one)."""
    return returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def run(cmd: Sequence[str], *, what: str, timeout: float, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, input: str | bytes | None = None, text: bool = True,
        memory_mib: int | None = None, cpu_seconds: float | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` to completion, capturing its output; never raises for a non-zero exit (callers read
    `returncode`). Raises ToolError when it cannot start or when it runs past `timeout` seconds."""
    proc = _popen(cmd, what, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, env=env, cwd=cwd,
                  memory_mib=memory_mib, cpu_seconds=cpu_seconds)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise ToolError(f"{what} did not finish within {timeout:g} s and was stopped") from None
    except BaseException:
        kill(proc)
        raise
    _LIVE.pop(proc.pid, None)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def serve(cmd: Sequence[str], *, what: str, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, private_shm: bool = False) -> subprocess.Popen:
    """Start a long-running server (etcd, kube-apiserver) in a process group of its own, its output
    going to `log` (with `private_shm`, an empty /dev/shm of its own: _child_setup); the caller must `kill` it (in a
    finally). Raises ToolError when it cannot start."""
    with open(log, "ab") as out:
        return _popen(cmd, what, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, private_shm=private_shm)


def kill(proc: subprocess.Popen) -> None:
    """Stop `proc` and everything in its process group (it was started in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    _LIVE.pop(proc.pid, None)


class Started:
    """A process running in the background with a deadline (kubeconform while Python runs the policies)."""

    def __init__(self, popen: subprocess.Popen, what: str, timeout: float) -> None:
        self.popen, self.what, self.timeout = popen, what, timeout
        self.deadline = time.monotonic() + timeout

    def wait(self) -> tuple[int, str]:
        """(exit code, stderr); ToolError when the deadline set at start passes first (the process is killed)."""
        try:
            _, err = self.popen.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(self.popen)
            raise ToolError(f"{self.what} did not finish within {self.timeout:g} s and was stopped") from None
        return self.popen.returncode, err or ""

    def feed(self, data: bytes) -> None:
        """Write `data` to the input of a process started with `input=LATER`, then close it; ToolError when the
        process ended before it read it all."""
        stdin = self.popen.stdin
        assert stdin is not None, "started without input=LATER"
        self.popen.stdin = None  # communicate() must not touch it again
        self.deadline = time.monotonic() + self.timeout  # the time limit counts from the input
        try:
            with stdin:
                stdin.write(data.decode())
        except (BrokenPipeError, OSError):
            raise ToolError(f"{self.what} ended before it read its input") from None

    def stop(self) -> None:
        if self.popen.poll() is None:
            kill(self.popen)


LATER = b"\0later"  # start(input=LATER): the input is written with Started.feed once it is known


def start(cmd: Sequence[str], *, what: str, timeout: float, stdout: IO[str], env: Mapping[str, str] | None = None,
          memory_mib: int | None = None, input: bytes | None = None) -> Started:
    """Start `cmd` writing to `stdout` (a file: a full pipe would stall it), reading `input` (through an unnamed
    scratch file, so no pipe can stall it either, or, with LATER, a pipe that Started.feed fills: a program can
    start while its input is still being made); collect it with `.wait()`."""
    if input is None or input is LATER:
        popen = _popen(cmd, what, stdin=subprocess.PIPE if input is LATER else subprocess.DEVNULL, stdout=stdout,
                       stderr=subprocess.PIPE, text=True, env=env, memory_mib=memory_mib)
        return Started(popen, what, timeout)
    with tempfile.TemporaryFile() as stdin:  # the child holds its own descriptor: closing ours is safe
        stdin.write(input)
        stdin.seek(0)
        popen = _popen(cmd, what, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env,
                       memory_mib=memory_mib)
    return Started(popen, what, timeout)


def pipe_to_file(cmd: Sequence[str], sink: Path, *, what: str, timeout: float, max_bytes: int,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` with its stdout streamed into the file `sink` (binary output such as `git archive`), stopped
    when it passes `timeout` seconds or `max_bytes` of output."""
    # stderr goes to an unnamed scratch file, not a pipe: nothing reads a pipe until the process ends, so
    # more than a pipe's worth of messages (64 KiB) would stall it until the deadline.
    with open(sink, "wb") as out, tempfile.TemporaryFile() as errors:
        popen = _popen(cmd, what, stdout=out, stderr=errors, cwd=cwd)
        deadline = time.monotonic() + timeout
        while popen.poll() is None:
            if time.monotonic() > deadline:
                kill(popen)
                raise ToolError(f"{what} did not finish within {timeout:g} s and was stopped")
            if sink.stat().st_size > max_bytes:
                kill(popen)
                raise ToolError(f"{what} produced more than {max_bytes:,} bytes and was stopped")
            time.sleep(0.01)
        errors.seek(0)
        err = errors.read(MAX_STDERR).decode(errors="replace")
    return subprocess.CompletedProcess(popen.args, popen.returncode, None, err)


class Stream:
    """A process whose output is read while it runs (kbuild sends each build as soon as it is done).
    Past its deadline a watchdog kills its process group; a read then raises ToolError."""

    def __init__(self, popen: subprocess.Popen, what: str, timeout: float, errors: IO[bytes]) -> None:
        self.popen, self.what, self.timeout, self._errors = popen, what, timeout, errors
        self.expired = False
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        self.expired = True
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _late(self) -> ToolError:
        return ToolError(f"{self.what} did not finish within {self.timeout:g} s and was stopped")

    def readline(self, limit: int) -> bytes:
        """One line of output (at most `limit` bytes); b"" at the end."""
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline(limit)
        if self.expired:
            raise self._late()
        return line

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes, or fewer at the end of the output."""
        assert self.popen.stdout is not None
        data = self.popen.stdout.read(size)
        if self.expired:
            raise self._late()
        return data

    def finish(self) -> tuple[int, str]:
        """(exit code, its messages) once the output has ended."""
        code = self.popen.wait()
        if self.expired:
            raise self._late()
        self._errors.seek(0)
        return code, self._errors.read(MAX_STDERR).decode(errors="replace")

    def close(self) -> None:
        self._watchdog.cancel()
        if self.popen.poll() is None:  # the caller stopped reading early (a failed build): nothing more is needed
            kill(self.popen)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@contextmanager
def stream(cmd: Sequence[str], *, what: str, timeout: float, input: bytes, env: Mapping[str, str] | None = None,
           memory_mib: int | None = None, cpu_seconds: float | None = None) -> Iterator[Stream]:
    """Start `cmd` with `input` on stdin and its stdout to be read as it comes; it is stopped when the
    block ends. Its input and messages go through unnamed scratch files, so no pipe but stdout can stall it."""
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as errors:
        stdin.write(input)
        stdin.seek(0)
        popen = _popen(cmd, what, stdin=stdin, stdout=subprocess.PIPE, stderr=errors, env=env, memory_mib=memory_mib,
                       cpu_seconds=cpu_seconds)
        running = Stream(popen, what, timeout, errors)
        try:
            yield running
        finally:
            running.close()


def stop_all() -> None:
    """Kill every child still running (with its process group) and refuse to start more: the run was cancelled."""
    _STOPPING.set()
    for popen in list(_LIVE.values()):
        if popen.returncode is None:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM (CI cancelling a job, `timeout`), SIGHUP and SIGINT unwind like Ctrl-C: every child is killed at
    once (children run in sessions of their own, so a terminal's SIGINT does not reach them), then
    KeyboardInterrupt runs every `finally` (temporary folders, servers). A second signal during that clean-up
    is ignored, so the clean-up ends. Only the main thread can install signal handlers: elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if _STOPPING.is_set():
            return
        stop_all()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    _NESTED.append(stop)
    try:
        yield
    finally:
        _NESTED.pop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if not _NESTED:
            _STOPPING.clear()  # the outermost one ended: a later run in this process (tests) may start children


@contextmanager
def deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs (putting files back must not be cut short); one
    that arrived meanwhile is delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
