"""Send requests with retries, from a small pool of worker threads with one keep-alive connection each.

Retry policy (Singer SDK / dlt practice, Braze's errors page):

- 429: not applied; wait as long as Braze says (the shared limiter pauses every worker), then resend. 429s
  have their own, larger budget, because the wait is Braze's to choose.
- 5xx, timeouts, dropped connections: exponential backoff with jitter and a cap, up to ``max_attempts``.
- any other status: final, not retried.

An attempt whose outcome is unknown (timeout or connection lost after the body was sent, or 504) marks the
exchange ``unknown``: resending is harmless for attributes, but events and purchases may be recorded twice.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .ratelimit import RateLimiter
from .transport import Response, TransportError

log = logging.getLogger("reverse_etl.braze")

THROTTLE_BUDGET_FACTOR = 4
UNKNOWN_STATUSES = frozenset({504})  # a gateway timeout may hide a request Braze did apply


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Equal-jitter exponential backoff: between half and all of base * 2^(attempt-1), capped."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return delay / 2 + random.random() * delay / 2


@dataclass(slots=True)
class Exchange:
    """How one request ended: the final response (None if none came), attempts, and doubt."""

    response: Response | None
    attempts: int
    throttled: int
    unknown: bool
    error: str | None  # set when the retry budget ran out


@dataclass(slots=True)
class Job:
    path: str
    body: bytes
    limiter: RateLimiter
    context: Any  # the caller's batch, handed back with the exchange
    identities: Any = frozenset()  # profiles the job touches (set by the client's pipeline)


def send(transport: Any, job: Job, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> Exchange:
    """Send ``job`` until it gets a final answer or the budget runs out."""
    failures = throttled = attempts = 0
    unknown = False
    while True:
        attempts += 1
        job.limiter.acquire()
        try:
            resp = transport.post(job.path, job.body)
        except TransportError as exc:
            unknown |= exc.sent
            reason = exc.reason
        else:
            headers = resp.headers
            reset = _number(headers.get("x-ratelimit-reset"))
            if resp.status < 300:
                job.limiter.observe(_number(headers.get("x-ratelimit-remaining")), reset)
                return Exchange(resp, attempts, throttled, unknown, None)
            if resp.status == 429:
                throttled += 1
                retry_after = _number(headers.get("x-ratelimit-retry-after") or headers.get("retry-after"))
                pause = job.limiter.penalize(retry_after, reset)
                log.warning("Braze rate-limited %s (429); every worker pauses %.2fs", job.path, pause)
                if throttled >= policy.max_attempts * THROTTLE_BUDGET_FACTOR:
                    return Exchange(resp, attempts, throttled, unknown, f"still rate-limited after {throttled} tries (429)")
                continue
            if resp.status < 500:
                return Exchange(resp, attempts, throttled, unknown, None)
            unknown |= resp.status in UNKNOWN_STATUSES
            reason = f"HTTP {resp.status}"
        failures += 1
        if failures >= policy.max_attempts:
            return Exchange(None, attempts, throttled, unknown, f"not delivered after {failures} failed attempts ({reason})")
        delay = policy.backoff(failures)
        log.info("Retrying %s in %.2fs after %s (attempt %d of %d)", job.path, delay, reason, failures, policy.max_attempts)
        sleep(delay)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class WorkerPool:
    """``workers`` threads, each with its own transport, taking jobs and handing back exchanges in
    completion order. Use as a context manager; :meth:`close` stops the threads and their connections."""

    def __init__(self, transport_factory: Callable[[], Any], workers: int, policy: RetryPolicy) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._policy = policy
        self._factory = transport_factory
        self.pending = 0
        self._threads = [threading.Thread(target=self._run, name=f"braze-worker-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        transport = self._factory()
        try:
            while (job := self._jobs.get()) is not None:
                try:
                    self._done.put((job, send(transport, job, self._policy), None))
                except BaseException as exc:  # a bug: hand it to the caller rather than hang it
                    self._done.put((job, None, exc))
        finally:
            transport.close()

    def submit(self, job: Job) -> None:
        self.pending += 1
        self._jobs.put(job)

    def next_done(self, block: bool = True) -> tuple[Job, Exchange] | None:
        """The next finished job and its exchange (None if ``block`` is False and none is ready)."""
        try:
            job, exchange, error = self._done.get(block)
        except queue.Empty:
            return None
        self.pending -= 1
        if error is not None:
            raise error
        return job, exchange

    def close(self) -> None:
        """Drop jobs not yet started (an abandoned run must not keep sending), then stop the workers."""
        while True:
            try:
                if self._jobs.get_nowait() is not None:
                    self.pending -= 1
            except queue.Empty:
                break
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
