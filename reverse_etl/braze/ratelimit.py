"""A rate limiter per Braze destination, shared by every sync of the process that uses it.

Braze counts requests in windows it does not disclose the alignment of, so the limiter guarantees the
stronger property: **any** interval of ``period`` seconds holds at most ``requests`` grants. It is a
GCRA (virtual-scheduling token bucket) with a small burst and a rate kept just under the limit, so
network jitter cannot push a window over. It adapts to what Braze says:

- ``X-RateLimit-Remaining`` near zero while the reset is further away than our pace would need to spend
  it (someone else uses the same budget): pause every worker until ``X-RateLimit-Reset`` (epoch or seconds);
- 429: pause until its retry-after, and lower the rate; the rate climbs back after a quiet period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from . import limits

# Fraction of the limit used for pacing and burst: pacing * (requests - burst) + burst <= 0.99 * requests.
PACING = 0.99
BURST_FRACTION = 0.02
MAX_PAUSE = 300.0          # never trust a header asking for a longer pause than this
MIN_RATE_FRACTION = 0.1    # 429s never slow us below a tenth of the setting


class RateLimiter:
    """Blocking GCRA limiter: :meth:`acquire` returns when a request may be sent."""

    def __init__(self, requests: int, period: float, *, reserve: int = 4,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._configure(requests, period)
        self.reserve = reserve  # requests possibly in flight when a header says "remaining n"
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock()          # theoretical arrival time of the next request
        self._pause_until = 0.0
        self._last_penalty = -1e18
        self.throttled = 0           # 429s seen
        self.paused = 0              # pauses taken because Remaining ran low

    def _configure(self, requests: int, period: float) -> None:
        self.requests = requests
        self.period = period
        self.burst = max(1, int(requests * BURST_FRACTION))
        self.full_rate = (requests - self.burst) * PACING / period if requests > self.burst else requests * PACING / period
        self.rate = self.full_rate

    def acquire(self) -> None:
        """Block until one request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                self._recover(now)
                interval = 1.0 / self.rate
                tolerance = (self.burst - 1) * interval
                send_at = max(now, self._tat - tolerance, self._pause_until)
                self._tat = max(send_at, self._tat) + interval
            if send_at > now:
                self._sleep(send_at - now)
            # A pause set while we slept (a 429 elsewhere) wins over our reservation.
            if self._pause_until <= self._clock():
                return

    def observe(self, remaining: int | None, reset: float | None) -> None:
        """Take ``X-RateLimit-Remaining``/``Reset`` into account: pause until the reset when nearly spent."""
        if remaining is None or reset is None or remaining > self.reserve:
            return
        delay = self._delay_until_reset(reset)
        # Pause only if our own pace would spend what is left before the reset: near the end of a window
        # the few requests left are exactly what the pacing will use, and pausing would waste them.
        if delay > 0 and delay * self.rate > max(remaining, 0) + 1:
            with self._lock:
                self._pause_until = max(self._pause_until, self._clock() + min(delay, MAX_PAUSE))
                self.paused += 1

    def penalize(self, retry_after: float | None, reset: float | None = None) -> float:
        """A 429: pause everyone for ``retry_after`` (or until ``reset``, or one period) and slow down.

        Returns the pause in seconds.
        """
        if retry_after is not None:
            delay = retry_after
        elif reset is not None:
            delay = self._delay_until_reset(reset)
        else:
            delay = self.period / 3
        delay = min(max(delay, 0.05), MAX_PAUSE)
        with self._lock:
            now = self._clock()
            self._pause_until = max(self._pause_until, now + delay)
            self.rate = max(self.full_rate * MIN_RATE_FRACTION, self.rate * 0.8)
            self._last_penalty = now
            self.throttled += 1
        return delay

    def _recover(self, now: float) -> None:
        # Called under the lock: after one quiet period, climb back 10% towards the configured rate.
        if self.rate < self.full_rate and now - self._last_penalty > self.period:
            self.rate = min(self.full_rate, self.rate * 1.1)
            self._last_penalty = now

    def _delay_until_reset(self, reset: float) -> float:
        if reset > limits.RESET_EPOCH_THRESHOLD:
            return reset - time.time()
        return reset


_registry: dict[tuple[str, str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(endpoint: str, key_id: str, group: str, requests: int, period: float,
                   reserve: int = 4) -> RateLimiter:
    """The process-wide limiter for (endpoint, API key, endpoint group), created on first use.

    Syncs that share a destination share its budget; a later caller with a stricter setting tightens it.
    """
    ident = (endpoint, key_id, group)
    with _registry_lock:
        limiter = _registry.get(ident)
        if limiter is None:
            limiter = _registry[ident] = RateLimiter(requests, period, reserve=reserve)
        elif requests / period < limiter.requests / limiter.period:
            with limiter._lock:
                limiter._configure(requests, period)
        limiter.reserve = max(limiter.reserve, reserve)
        return limiter


def forget_limiters() -> None:
    """Drop every shared limiter (tests and long-lived processes that change settings)."""
    with _registry_lock:
        _registry.clear()
