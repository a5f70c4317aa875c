"""Progress: a bar on terminals, log lines elsewhere; counts only."""

from __future__ import annotations

import io
import logging

from reverse_etl.braze.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_terminal_bar_shows_rows_rate_and_eta():
    clock, out = Clock(), Tty()
    p = Progress(total=1000, stream=out, clock=clock)
    clock.now = 2.0
    p(250, 4)
    assert "\r" in out.getvalue()
    line = p.line(2.0)
    assert "250/1,000 rows (25%)" in line and "2 req/s" in line and "ETA 0:06" in line
    p.close()
    assert out.getvalue().endswith("\n")


def test_plain_stream_gets_periodic_log_lines(caplog):
    caplog.set_level(logging.INFO, logger="reverse_etl.braze.progress")
    clock, out = Clock(), io.StringIO()
    p = Progress(stream=out, clock=clock, interval=10)
    clock.now = 1.0
    p(75, 1)
    assert not caplog.records  # too soon
    clock.now = 11.0
    p(75, 1)
    assert len(caplog.records) == 1 and "150 rows" in caplog.text
    assert out.getvalue() == ""  # nothing drawn on a non-terminal
