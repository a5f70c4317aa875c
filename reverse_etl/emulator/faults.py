"""Fault injection: the failures a client's retry policy must survive, settable at start and at run time.

Settings (all optional; ``{}`` clears them):

- ``error_rate`` (0..1) share of requests answered with one of ``error_statuses`` (default 500, 502, 503);
  nothing is applied.
- ``rate_limit_burst``: the next N requests get 429 (with the usual rate-limit headers).
- ``latency_ms``: added before every answer.
- ``drop_before_apply_rate``: the connection is closed without an answer and nothing is applied.
- ``drop_after_apply_rate``: the request **is applied**, then the connection is closed without an answer,
  as when a network or proxy fails on the way back (the client cannot know it landed).
- ``hang_rate`` / ``hang_seconds`` (default 30): no answer for that long, then the connection is closed;
  nothing is applied.
- ``seed``: makes the draws repeatable.
"""

from __future__ import annotations

import random
from typing import Any

RATES = ("error_rate", "drop_before_apply_rate", "drop_after_apply_rate", "hang_rate")
KEYS = frozenset(RATES + ("error_statuses", "rate_limit_burst", "latency_ms", "hang_seconds", "seed"))


class FaultError(ValueError):
    """Bad fault settings (answered 400 by ``POST /_emulator/faults``)."""


def validate(settings: Any) -> dict:
    """Check fault settings; returns them as given, or raises :class:`FaultError` naming the bad key."""
    if not isinstance(settings, dict):
        raise FaultError("fault settings must be a JSON object")
    unknown = set(settings) - KEYS
    if unknown:
        raise FaultError(f"unknown fault settings: {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    for key in RATES:
        if key in settings and not (_number(settings[key]) and 0 <= settings[key] <= 1):
            raise FaultError(f"'{key}' must be a number between 0 and 1")
    for key in ("latency_ms", "hang_seconds"):
        if key in settings and not (_number(settings[key]) and 0 <= settings[key] <= 3600):
            raise FaultError(f"'{key}' must be a number between 0 and 3600")
    if "rate_limit_burst" in settings and not (type(settings["rate_limit_burst"]) is int
                                               and 0 <= settings["rate_limit_burst"] <= 1_000_000):
        raise FaultError("'rate_limit_burst' must be a whole number of requests")
    statuses = settings.get("error_statuses")
    if statuses is not None and not (isinstance(statuses, list) and statuses
                                     and all(type(s) is int and 400 <= s <= 599 for s in statuses)):
        raise FaultError("'error_statuses' must be a non-empty list of HTTP statuses between 400 and 599")
    if "seed" in settings and type(settings["seed"]) not in (int, str):
        raise FaultError("'seed' must be an integer or a string")
    return dict(settings)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Faults:
    """The current settings and the random draws they need (one event-loop thread uses them)."""

    def __init__(self, settings: dict | None = None):
        self.set(settings or {})

    def set(self, settings: Any) -> None:
        self.settings = validate(settings)
        self.rng = random.Random(self.settings.get("seed"))
        self.burst = int(self.settings.get("rate_limit_burst", 0))
        self.active = bool(self.settings)

    def roll(self, key: str) -> bool:
        rate = self.settings.get(key, 0)
        return rate > 0 and self.rng.random() < rate

    def take_burst(self) -> bool:
        if self.burst > 0:
            self.burst -= 1
            return True
        return False

    def error_status(self) -> int:
        return int(self.rng.choice(self.settings.get("error_statuses") or [500, 502, 503]))

    @property
    def latency(self) -> float:
        return float(self.settings.get("latency_ms", 0)) / 1000

    @property
    def hang_seconds(self) -> float:
        return float(self.settings.get("hang_seconds", 30))
