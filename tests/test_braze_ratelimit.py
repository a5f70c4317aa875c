"""The shared rate limiter, on a simulated clock (no sleeping)."""

from __future__ import annotations

import time

import pytest

from reverse_etl.braze.ratelimit import RateLimiter, forget_limiters, shared_limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(requests, period, **kw):
    clock = Clock()
    return RateLimiter(requests, period, clock=clock, sleep=clock.sleep, **kw), clock


def grants(rl, clock, n):
    times = []
    for _ in range(n):
        rl.acquire()
        times.append(clock.now)
    return times


def max_in_window(times, period):
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("requests, period", [(600, 3.0), (3000, 3.0), (10, 1.0), (1, 2.0), (50_000, 60.0)])
def test_no_window_ever_holds_more_than_the_limit_yet_rate_is_close_to_it(requests, period):
    rl, clock = limiter(requests, period)
    times = grants(rl, clock, requests * 4)
    assert max_in_window(times, period) <= requests
    achieved = (len(times) - 1) / (times[-1] - times[0]) * period
    assert achieved >= 0.95 * requests or requests < 20  # tiny limits keep a whole request of margin


def test_remaining_near_zero_pauses_until_reset_delta():
    rl, clock = limiter(600, 3.0, reserve=4)
    rl.acquire()
    rl.observe(remaining=10, reset=2.0)  # plenty left: no pause
    rl.acquire()
    before = clock.now
    rl.observe(remaining=3, reset=2.0)   # 3 <= reserve: wait for the window to reset
    rl.acquire()
    assert clock.now - before >= 2.0
    assert rl.paused == 1


def test_reset_as_epoch_is_understood():
    rl, clock = limiter(600, 3.0)
    rl.observe(remaining=0, reset=time.time() + 1.5)
    before = clock.now
    rl.acquire()
    assert 1.3 <= clock.now - before <= 1.6


def test_429_pauses_everyone_for_retry_after_and_slows_down_then_recovers():
    rl, clock = limiter(600, 3.0)
    full = rl.rate
    assert rl.penalize(retry_after=2.0) == 2.0
    before = clock.now
    rl.acquire()
    assert clock.now - before >= 2.0
    assert rl.rate < full and rl.throttled == 1
    grants(rl, clock, 3000)  # a quiet stretch of many periods
    assert rl.rate == pytest.approx(full)


def test_429_without_header_uses_reset_or_a_fraction_of_the_period():
    rl, _ = limiter(600, 3.0)
    assert rl.penalize(None, reset=1.25) == 1.25
    assert rl.penalize(None, None) == pytest.approx(1.0)
    assert rl.penalize(10_000.0) == 300.0  # never trust an absurd header


def test_limiter_is_shared_per_endpoint_key_and_group():
    forget_limiters()
    a = shared_limiter("https://rest.iad-01.braze.com", "k1", "track", 3000, 3.0)
    assert shared_limiter("https://rest.iad-01.braze.com", "k1", "track", 3000, 3.0) is a
    assert shared_limiter("https://rest.iad-01.braze.com", "k2", "track", 3000, 3.0) is not a
    assert shared_limiter("https://rest.iad-01.braze.com", "k1", "users_misc", 20000, 60.0) is not a
    tighter = shared_limiter("https://rest.iad-01.braze.com", "k1", "track", 600, 3.0)
    assert tighter is a and a.requests == 600  # a stricter sync tightens the shared budget
    forget_limiters()


def test_no_pause_when_the_pace_would_not_spend_what_is_left_before_the_reset():
    rl, clock = limiter(50, 1.0, reserve=4)
    rl.acquire()
    rl.observe(remaining=2, reset=0.03)  # end of the window: 0.03 s at ~48/s is about 1.5 requests
    before = clock.now
    rl.acquire()
    assert rl.paused == 0 and clock.now - before < 0.03
