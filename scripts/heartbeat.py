"""A line every so often while something long runs: CI logs and people alike take a silent minute for a hang.
Standard library only, so noxfile.py (outside any session's packages) and scripts/build_tools.py share it."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

EVERY_SECONDS = 30.0


@contextmanager
def heartbeat(what: str, start: float | None = None, every: float = EVERY_SECONDS,
              say: str = "still building") -> Iterator[None]:
    """Print "<what>: <say> (N s)" every `every` seconds until the block ends (then at once, no further line)."""
    begun = time.monotonic() if start is None else start
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            print(f"{what}: {say} ({time.monotonic() - begun:.0f} s)", flush=True)

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
