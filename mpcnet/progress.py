"""A small progress display for long runs (stderr, one line, throttled)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Draws ``party stage [####....] 45% 450000/1000000`` on one line.

    Pass :meth:`update` as the ``progress=`` callback of ``simulate`` or
    ``run_party``. Redraws at most ``rate`` times a second; :meth:`close`
    ends the line. With several parties (a simulation) it shows the one
    that is furthest behind in the current stage.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, rate: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = 1.0 / rate
        self._last = 0.0
        self._state: dict[str, tuple[str, int, int]] = {}
        self._drawn = False

    def update(self, party: str, stage: str, done: int, total: int) -> None:
        """Record progress of ``party`` and redraw if it is time."""
        self._state[party] = (stage, done, total)
        now = time.monotonic()
        if now - self._last >= self.interval or done >= total:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        party, (stage, done, total) = min(self._state.items(), key=lambda kv: (kv[1][0], kv[1][1] / max(kv[1][2], 1)))
        frac = min(1.0, done / total) if total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{party} {stage} [{bar}] {frac:4.0%} {done}/{total}   ")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the line (if anything was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
