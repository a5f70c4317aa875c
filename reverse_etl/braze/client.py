"""The Braze delivery client: typed rows in, exactly one :class:`Outcome` per row out.

    client = BrazeClient(Destination("https://rest.fra-01.braze.eu", api_key, RateLimit(3000, 3.0)))
    for outcome in client.track(rows):          # rows: any iterable of TrackRow, consumed lazily
        record(outcome.key, outcome.status, outcome.reason, outcome.possibly_duplicated)

Rows are built and batched in the caller's thread and sent by a few worker threads; outcomes come back in
completion order while later rows are still being read, so memory stays flat. Two batches that touch the
same profile are never in flight together (Braze does not order separate requests), so one user's updates
apply in the order the rows came.

``track`` raises :class:`~reverse_etl.errors.FatalError` when Braze refuses the key, the permission or the
URL (401/403/404): every batch already sent gets its outcome first; rows not yet read have none (the engine
sends them next run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import FatalError
from .batching import Batch, Batcher
from .destination import Destination
from .payload import AttributeSpec, PayloadBuilder, Rejection
from .pool import Exchange, Job, RetryPolicy, WorkerPool
from .ratelimit import RateLimiter, shared_limiter
from .rows import DELIVERED, FAILED, REJECTED, Outcome, TrackRow
from .transport import HttpTransport

log = logging.getLogger("reverse_etl.braze")

TRACK_PATH = "/users/track"
FATAL_HINTS = {
    401: "Braze refused the API key (401): check the key is right, unquoted and from this workspace, and that "
         "the endpoint is your instance's (a key works only on its own instance).",
    403: "Braze denied access (403) to {path}: the API key lacks that endpoint's permission (or the plan "
         "excludes it); create a key with it.",
    404: "Braze answered 404 for {path}: the endpoint URL is wrong; use your instance's REST endpoint.",
}


@dataclass
class Stats:
    """Counts for a client's lifetime, for the engine's run record and the benchmark."""

    rows: int = 0
    requests: int = 0
    batches: int = 0
    throttled: int = 0
    retried_batches: int = 0
    split_batches: int = 0  # answered 413 and resent as two halves
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    possibly_duplicated: int = 0

    def count(self, outcome: Outcome) -> None:
        self.rows += 1
        if outcome.status == DELIVERED:
            self.delivered += 1
        elif outcome.status == REJECTED:
            self.rejected += 1
        else:
            self.failed += 1
        self.possibly_duplicated += outcome.possibly_duplicated


class BrazeClient:
    """Delivers rows to one :class:`Destination`. ``schema`` declares custom attribute types."""

    def __init__(self, destination: Destination, *, schema: Mapping[str, str | AttributeSpec] | None = None,
                 transport_factory: Callable[[], Any] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.destination = destination
        self.builder = PayloadBuilder(schema)
        self.batcher = Batcher(destination.objects_per_request, destination.legacy_per_array)
        self.policy = RetryPolicy(destination.max_attempts, destination.backoff_base, destination.backoff_cap)
        self.transport_factory = transport_factory or (lambda: HttpTransport(
            destination.endpoint, destination.api_key, destination.timeout, destination.connect_timeout))
        self.progress = progress
        self.stats = Stats()
        rate = destination.rate_limit
        self.track_limiter = self.limiter("track", rate.requests, rate.period)

    def limiter(self, group: str, requests: int, period: float) -> RateLimiter:
        """The process-wide limiter of this destination for an endpoint group."""
        d = self.destination
        return shared_limiter(d.endpoint, d.key_id, group, requests, period, reserve=d.workers)

    def __repr__(self) -> str:
        return f"BrazeClient({self.destination!r})"

    def track(self, rows: Iterable[TrackRow]) -> Iterator[Outcome]:
        """Send ``rows`` to ``/users/track``; yield one outcome per row, in completion order."""
        prepared = map(self.builder.build, rows)
        units = (item if isinstance(item, Rejection) else (Job(TRACK_PATH, item.body(), self.track_limiter, item), item.identities)
                 for item in self.batcher.batches(prepared))
        return self.run(units, self._track_outcomes)

    def run(self, units: Iterable[Rejection | tuple[Job, set[str]]],
            interpret: Callable[[Job, Exchange], list[Outcome]]) -> Iterator[Outcome]:
        """The delivery pipeline shared by every endpoint: rejections pass straight through; jobs go to the
        worker pool, never two at once that touch the same identity; ``interpret`` maps each finished job to
        its rows' outcomes."""
        in_flight: dict[str, int] = {}
        fatal: list[str] = []
        max_pending = self.destination.workers * 2

        def finish(done: tuple[Job, Exchange]) -> list[Outcome]:
            job, exchange = done
            for ident in job.identities:
                if in_flight[ident] == 1:
                    del in_flight[ident]
                else:
                    in_flight[ident] -= 1
            status = exchange.response.status if exchange.response is not None else None
            if status in FATAL_HINTS and exchange.error is None:
                fatal.append(FATAL_HINTS[status].format(path=job.path))
            s = self.stats
            if status == 413 and exchange.error is None and isinstance(job.context, Batch) and len(job.context.rows) > 1:
                # Braze found the body too large (our size estimate was off, or its limit is lower): nothing was
                # applied, so the two halves go again, at once, before any later batch of the same users.
                s.split_batches += 1
                s.requests += exchange.attempts
                log.info("Braze answered 413 to a %d-row batch: sending it again in two halves", len(job.context.rows))
                for half in job.context.halves():
                    resend = Job(job.path, half.body(), job.limiter, half)
                    resend.identities = half.identities
                    for ident in half.identities:
                        in_flight[ident] = in_flight.get(ident, 0) + 1
                    pool.submit(resend)
                return []
            outcomes = interpret(job, exchange)
            s.batches += 1
            s.requests += exchange.attempts
            s.throttled += exchange.throttled
            s.retried_batches += exchange.attempts > 1
            statuses = [o.status for o in outcomes]
            s.rows += len(statuses)
            s.delivered += statuses.count(DELIVERED)
            s.rejected += statuses.count(REJECTED)
            s.failed += statuses.count(FAILED)
            if exchange.unknown:
                s.possibly_duplicated += sum(o.possibly_duplicated for o in outcomes)
            if self.progress is not None:
                self.progress(len(outcomes), exchange.attempts)
            return outcomes

        pool = WorkerPool(self.transport_factory, self.destination.workers, self.policy)
        try:
            for unit in units:
                if isinstance(unit, Rejection):
                    outcome = Outcome(unit.key, REJECTED, unit.reason)
                    self.stats.count(outcome)
                    yield outcome
                    continue
                job, identities = unit
                while pool.pending and (pool.pending >= max_pending or any(i in in_flight for i in identities)):
                    yield from finish(pool.next_done())
                if fatal:
                    break
                job.identities = identities
                for ident in identities:
                    in_flight[ident] = in_flight.get(ident, 0) + 1
                pool.submit(job)
                while (done := pool.next_done(block=False)) is not None:
                    yield from finish(done)
            while pool.pending:
                yield from finish(pool.next_done())
        finally:
            pool.close()
        if fatal:
            raise FatalError(fatal[0])

    def _track_outcomes(self, job: Job, exchange: Exchange) -> list[Outcome]:
        batch: Batch = job.context
        dup = exchange.unknown
        if exchange.error is not None:
            return [Outcome(r.key, FAILED, exchange.error, dup and bool(r.events or r.purchases)) for r in batch.rows]
        resp = exchange.response
        if resp.status < 300 and not dup and b'"errors"' not in resp.body:
            return [Outcome(r.key, DELIVERED) for r in batch.rows]
        body = _json(resp.body)
        message = body.get("message") if isinstance(body.get("message"), str) else None
        reasons = _indexed_errors(batch, body.get("errors"))
        if resp.status < 300:
            fallback, fallback_status = None, DELIVERED
        elif resp.status in FATAL_HINTS:
            fallback, fallback_status = f"HTTP {resp.status} from Braze", FAILED
        elif resp.status == 400 and reasons:
            # Braze refused the request as a whole and listed the bad objects; the others were not applied.
            fallback, fallback_status = f"not applied: Braze refused the request ({message or 'HTTP 400'})", FAILED
        else:
            fallback, fallback_status = f"Braze refused the request: HTTP {resp.status} {message or ''}".strip(), REJECTED
        outcomes = []
        for n, row in enumerate(batch.rows):
            possibly_dup = dup and bool(row.events or row.purchases)
            if n in reasons:
                outcomes.append(Outcome(row.key, REJECTED, "; ".join(reasons[n]), possibly_dup))
            else:
                outcomes.append(Outcome(row.key, fallback_status, fallback, possibly_dup))
        if reasons and resp.status < 300:
            log.info("Braze rejected %d of %d rows in a batch", len(reasons), len(batch.rows))
        return outcomes


def _json(body: bytes) -> dict:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _indexed_errors(batch: Batch, errors: Any) -> dict[int, list[str]]:
    """Map Braze's ``errors`` items (``input_array`` + ``index``) to row positions in ``batch``."""
    reasons: dict[int, list[str]] = {}
    if not isinstance(errors, list):
        return reasons
    for err in errors:
        if not isinstance(err, dict):
            continue
        positions = batch.positions.get(err.get("input_array"))
        index = err.get("index")
        if positions is None or not isinstance(index, int) or not 0 <= index < len(positions):
            continue
        what = str(err.get("type") or err.get("message") or "invalid")
        reasons.setdefault(positions[index], []).append(f"Braze rejected its {err['input_array'][:-1]}: {what}")
    return reasons
