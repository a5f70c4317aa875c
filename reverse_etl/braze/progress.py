"""Delivery progress: a one-line bar on a terminal (rows, requests/s, ETA), periodic log lines otherwise.

Pass an instance as ``BrazeClient(..., progress=Progress(total=n))``: the client calls it once per finished
batch with (rows, requests). It prints counts and rates only, never row contents.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("reverse_etl.braze.progress")


class Progress:
    """Reports progress; ``total`` (rows, if known) enables the percentage and the ETA."""

    def __init__(self, total: int | None = None, *, stream: TextIO | None = None, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, label: str = "Braze") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.total = total
        self.label = label
        self._clock = clock
        self.started = clock()
        self._last = self.started
        self.rows = 0
        self.requests = 0

    def __call__(self, rows: int, requests: int) -> None:
        self.rows += rows
        self.requests += requests
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(now)

    def line(self, now: float | None = None) -> str:
        """The current status as text: rows (and % of total), requests/s, ETA."""
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.requests / elapsed
        rows_rate = self.rows / elapsed
        text = f"{self.label}: {self.rows:,} rows"
        if self.total:
            share = min(self.rows / self.total, 1.0)
            eta = (self.total - self.rows) / rows_rate if rows_rate > 0 else float("inf")
            bar = "#" * int(share * 20)
            text = f"{self.label} [{bar:<20}] {self.rows:,}/{self.total:,} rows ({share:.0%})"
            text += f", {rate:,.0f} req/s, ETA {_duration(eta)}"
        else:
            text += f", {rate:,.0f} req/s"
        return text

    def _emit(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(now).ljust(79))
            self.stream.flush()
        else:
            log.info("%s", self.line(now))

    def close(self) -> None:
        """Print the final line (and end the bar's line on a terminal)."""
        now = self._clock()
        if self.tty:
            self.stream.write("\r" + self.line(now).ljust(79) + "\n")
            self.stream.flush()
        else:
            log.info("%s (done in %s)", self.line(now), _duration(now - self.started))


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
