"""SIGTERM handled as Ctrl-C, so every `finally` and `except KeyboardInterrupt` runs on a cancelled job too.

CI cancels a job, and `timeout` stops a command, with SIGTERM, whose default action ends the process
at once: an edit half made would stay half made, a server started would stay running. Inside
`terminate_as_interrupt()` SIGTERM raises KeyboardInterrupt in the main thread instead, as SIGINT does.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt while the block runs (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with it ignored
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


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
