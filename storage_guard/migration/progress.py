"""A one-line progress bar for long runs on a terminal; silent anywhere else."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """Draws `[#####-----] 120/2000 files` on `stream`, once a run has lasted long enough to
    need it, at most ten times a second, and wipes it when done."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 0.5,
        width: int = 30,
    ) -> None:
        self.stream = stream
        self.total = total
        self.clock = clock
        self.enabled = stream.isatty()
        self.width = width
        self._start = clock()
        self._delay = delay
        self._drawn_at: float | None = None
        self._done = 0

    def advance(self) -> None:
        """Count one more file done."""
        self._done += 1
        if not self.enabled:
            return
        now = self.clock()
        if now - self._start < self._delay:
            return
        if self._drawn_at is not None and now - self._drawn_at < 0.1:
            return
        filled = self.width * self._done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self._done}/{self.total} files")
        self.stream.flush()
        self._drawn_at = now

    def close(self) -> None:
        """Wipe the bar so that what follows starts on a clean line."""
        if self._drawn_at is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
