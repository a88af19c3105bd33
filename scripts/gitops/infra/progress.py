"""A one-line progress display on stderr, for runs long enough to wonder whether anything happens.

Shown only when asked (`--progress`) or when stderr is a terminal, and only once a run has taken
`DELAY` seconds, so quick runs and CI logs stay as they were. The line is redrawn in place with a
carriage return and blanked at the end; `NO_COLOR` (https://no-color.org) turns its bold off.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from gitops.infra import settings

DELAY = 2.0  # seconds before the line appears
INTERVAL = 0.25  # seconds between redraws


class Progress:
    """Stage and cluster counts, drawn by a daemon thread; every method is cheap and thread-safe."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True, delay: float = DELAY,
                 color: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.delay = delay
        self.color = (color if color is not None else not settings.current().no_color)
        self._lock = threading.Lock()
        self._draw = threading.Lock()  # one writer of the stream at a time (the redraw thread, note)
        self._stage = ""
        self._done = self._total = 0
        self._start = time.monotonic()
        self._width = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self._width:
                self._write("\r" + " " * self._width + "\r")

    def stage(self, name: str, total: int = 0) -> None:
        with self._lock:
            self._stage, self._done, self._total = name, 0, total

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._done += n

    def line(self) -> str:
        with self._lock:
            stage, done, total = self._stage, self._done, self._total
        name = f"\033[1m{stage}\033[0m" if self.color and stage else stage
        count = f" {done}/{total} clusters" if total else ""
        return f"validate: {name}{count} ({time.monotonic() - self._start:.0f} s)"

    def note(self, text: str) -> None:
        """A line that stays (a tool being built): always shown, even when the redrawn line is not; the redrawn
        line, if any, is blanked first and drawn again below it."""
        with self._draw:
            self._write("\r" + " " * self._width + "\r" + text + "\n" if self._width else text + "\n")

    def _write(self, s: str) -> None:
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):
            self._stop.set()

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            text = self.line()
            with self._draw:
                self._write("\r" + text + " " * max(0, self._width - len(text)))
                self._width = max(self._width, len(text))
            self._stop.wait(INTERVAL)


def disabled() -> Progress:
    return Progress(enabled=False)
