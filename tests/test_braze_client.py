"""The client's pipeline against a scripted fake Braze (injected transport): retries, 429s, unknown outcomes,
partial errors, fatal answers, per-user ordering, streaming, and the API key kept out of everything."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import orjson
import pytest

from reverse_etl.braze import (DELIVERED, FAILED, REJECTED, BrazeClient, Destination, Event, Identifier,
                               RateLimit, TrackRow)
from reverse_etl.braze.ratelimit import forget_limiters
from reverse_etl.braze.transport import Response, TransportError
from reverse_etl.errors import FatalError

KEY = "sk-secret-key-0123456789"
OK = Response(201, {}, b'{"message":"success"}')


@pytest.fixture(autouse=True)
def fresh_limiters():
    forget_limiters()
    yield
    forget_limiters()


class FakeBraze:
    """A transport whose answers come from ``script`` (a callable of the call number and body)."""

    def __init__(self, script=None, delay=0.0):
        self.script = script or (lambda n, body: OK)
        self.delay = delay
        self.calls = 0
        self.bodies = []
        self.lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.overlaps = 0

    def post(self, path, body):
        decoded = orjson.loads(body)
        ids = {o.get("external_id") for arr in decoded.values() if isinstance(arr, list) for o in arr
               if isinstance(o, dict)}
        with self.lock:
            n = self.calls
            self.calls += 1
            self.bodies.append((path, decoded))
            self.overlaps += bool(self.in_flight & ids)
            self.in_flight |= ids
        try:
            if self.delay:
                time.sleep(self.delay)
            result = self.script(n, decoded)
        finally:
            with self.lock:
                self.in_flight -= ids
        if isinstance(result, Exception):
            raise result
        return result

    def close(self):
        pass


def client_for(fake, **settings):
    defaults = dict(rate_limit=RateLimit(100_000, 1.0), backoff_base=0.001, backoff_cap=0.01, max_attempts=4)
    dest = Destination("http://127.0.0.1:9", KEY, **(defaults | settings))
    return BrazeClient(dest, transport_factory=lambda: fake)


def rows(n, events=False, prefix="u"):
    for i in range(n):
        yield TrackRow(i, Identifier.external_id(f"{prefix}{i}"), {"score": i},
                       events=[Event("e", datetime(2026, 1, 1))] if events else ())


def by_key(outcomes):
    out = {}
    for o in outcomes:
        assert o.key not in out, f"two outcomes for {o.key}"
        out[o.key] = o
    return out


def test_every_row_gets_exactly_one_delivered_outcome():
    fake = FakeBraze()
    client = client_for(fake)
    outcomes = by_key(client.track(rows(1000)))
    assert set(outcomes) == set(range(1000))
    assert all(o.status == DELIVERED and not o.possibly_duplicated for o in outcomes.values())
    assert fake.calls == 14 and client.stats.requests == 14 and client.stats.delivered == 1000


def test_5xx_is_retried_with_backoff_then_delivered():
    fake = FakeBraze(lambda n, b: Response(503, {}, b"") if n < 2 else OK)
    client = client_for(fake, workers=1)
    outcomes = list(client.track(rows(10, events=True)))
    assert {o.status for o in outcomes} == {DELIVERED}
    assert not any(o.possibly_duplicated for o in outcomes)  # a 503 was not applied
    assert fake.calls == 3 and client.stats.retried_batches == 1


def test_unknown_outcome_marks_events_possibly_duplicated_but_not_attributes():
    fake = FakeBraze(lambda n, b: TransportError("dropped", sent=True) if n == 0 else OK)
    client = client_for(fake, workers=1)
    mixed = [TrackRow("attrs", Identifier.external_id("a"), {"x": 1}),
             TrackRow("event", Identifier.external_id("b"), None, events=[Event("e", datetime(2026, 1, 1))])]
    outcomes = by_key(client.track(mixed))
    assert outcomes["attrs"].status == outcomes["event"].status == DELIVERED
    assert outcomes["event"].possibly_duplicated and not outcomes["attrs"].possibly_duplicated
    assert client.stats.possibly_duplicated == 1


def test_connect_failure_is_retried_and_not_a_duplicate():
    fake = FakeBraze(lambda n, b: TransportError("refused", sent=False) if n == 0 else OK)
    outcomes = list(client_for(fake, workers=1).track(rows(3, events=True)))
    assert [o.status for o in outcomes] == [DELIVERED] * 3 and not any(o.possibly_duplicated for o in outcomes)


def test_after_the_retry_budget_rows_are_failed_with_reason():
    fake = FakeBraze(lambda n, b: TransportError("no answer within 1s", sent=True) if n % 2 else Response(500, {}, b""))
    client = client_for(fake, max_attempts=3)
    outcomes = list(client.track(rows(5, events=True)))
    assert {o.status for o in outcomes} == {FAILED}
    assert all("after 3 failed attempts" in o.reason for o in outcomes)
    assert all(o.possibly_duplicated for o in outcomes)  # some attempt may have been applied
    assert fake.calls == 3


def test_other_4xx_are_not_retried():
    fake = FakeBraze(lambda n, b: Response(400, {}, b'{"message":"Max Input Length Exceeded"}'))
    outcomes = list(client_for(fake).track(rows(3)))
    assert fake.calls == 1
    assert {o.status for o in outcomes} == {REJECTED}
    assert "Max Input Length Exceeded" in outcomes[0].reason


def test_413_resends_the_batch_in_halves_and_a_single_row_still_too_large_is_rejected():
    too_large = Response(413, {}, b'{"message":"Request Entity Too Large"}')
    fake = FakeBraze(lambda n, b: too_large if len(b["attributes"]) > 20 or any(o["score"] == 7 for o in b["attributes"])
                     else OK)
    client = client_for(fake)
    outcomes = by_key(client.track(rows(75)))
    assert set(outcomes) == set(range(75))
    assert outcomes[7].status == REJECTED and "413" in outcomes[7].reason
    assert all(o.status == DELIVERED for k, o in outcomes.items() if k != 7)
    sizes = sorted(len(b["attributes"]) for _, b in fake.bodies)
    assert sizes[-3:] == [37, 38, 75] and sizes[0] == 1, "75 -> 37 + 38 -> ... down to row 7 alone"
    assert client.stats.split_batches >= 3 and client.stats.requests == fake.calls


def test_429_honours_retry_after_for_every_worker():
    first = {}

    def script(n, body):
        if n == 0:
            first["at"] = time.monotonic()
            return Response(429, {"x-ratelimit-retry-after": "0.3"}, b'{"message":"Rate Limited"}')
        first.setdefault("next", time.monotonic())
        return OK

    fake = FakeBraze(script)
    client = client_for(fake, workers=1)
    outcomes = list(client.track(rows(5)))
    assert {o.status for o in outcomes} == {DELIVERED}
    assert first["next"] - first["at"] >= 0.29
    assert client.stats.throttled == 1 and client.track_limiter.throttled == 1


def test_partial_errors_reject_only_the_listed_objects():
    def script(n, body):
        # Reject the 2nd attributes object and the 1st event.
        return Response(201, {}, orjson.dumps({"message": "success", "errors": [
            {"type": "'quantity' is not valid", "input_array": "attributes", "index": 1},
            {"type": "bad event", "input_array": "events", "index": 0},
        ]}))

    batch = [TrackRow("a", Identifier.external_id("a"), {"x": 1}),
             TrackRow("b", Identifier.external_id("b"), {"x": 2}),
             TrackRow("c", Identifier.external_id("c"), {"x": 3}, events=[Event("e", datetime(2026, 1, 1))])]
    outcomes = by_key(client_for(FakeBraze(script)).track(batch))
    assert outcomes["a"].status == DELIVERED
    assert outcomes["b"].status == REJECTED and "'quantity' is not valid" in outcomes["b"].reason
    assert outcomes["c"].status == REJECTED and "bad event" in outcomes["c"].reason


def test_400_listing_every_bad_object_fails_the_others():
    body = orjson.dumps({"message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
                         "errors": [{"type": "invalid", "input_array": "attributes", "index": 0}]})
    outcomes = by_key(client_for(FakeBraze(lambda n, b: Response(400, {}, body))).track(rows(2)))
    assert outcomes[0].status == REJECTED
    assert outcomes[1].status == FAILED and "not applied" in outcomes[1].reason


@pytest.mark.parametrize("status, hint", [(401, "API key"), (403, "permission"), (404, "endpoint URL")])
def test_auth_permission_and_url_errors_stop_the_run(status, hint):
    fake = FakeBraze(lambda n, b: Response(status, {}, b'{"message":"Invalid API Key"}'))
    client = client_for(fake, workers=1)
    seen = []
    with pytest.raises(FatalError, match=hint) as info:
        for outcome in client.track(rows(10_000)):
            seen.append(outcome)
    assert KEY not in str(info.value)
    assert seen and {o.status for o in seen} == {FAILED}
    assert len(seen) < 10_000 and fake.calls <= 3  # stops sending instead of burning through every row


def test_one_users_batches_are_never_in_flight_together():
    def user_rows():
        for i in range(3000):
            user = "hot" if i % 40 == 0 else f"u{i}"  # "hot" appears in almost every batch
            yield TrackRow(i, Identifier.external_id(user), {"n": i})

    fake = FakeBraze(delay=0.002)
    outcomes = by_key(client_for(fake, workers=4).track(user_rows()))
    assert len(outcomes) == 3000
    assert fake.overlaps == 0
    # And the hot user's updates reached "Braze" in row order.
    hot = [o["n"] for _, body in fake.bodies for o in body["attributes"] if o["external_id"] == "hot"]
    assert hot == sorted(hot) and len(hot) == 75


def test_concurrency_actually_overlaps_distinct_users():
    fake = FakeBraze(delay=0.02)
    client = client_for(fake, workers=4)
    started = time.monotonic()
    list(client.track(rows(75 * 8)))
    assert time.monotonic() - started < 8 * 0.02 * 0.75  # not serial


def test_rows_are_read_lazily():
    consumed = []

    def source():
        for row in rows(20_000):
            consumed.append(row.key)
            yield row

    outcomes = client_for(FakeBraze(delay=0.001), workers=2).track(source())
    next(outcomes)
    assert len(consumed) < 2_000
    outcomes.close()


def test_random_faults_still_give_one_outcome_per_row():
    import random

    rnd = random.Random(7)
    lock = threading.Lock()

    def script(n, body):
        with lock:
            r = rnd.random()
        if r < 0.1:
            return TransportError("dropped", sent=True)
        if r < 0.2:
            return TransportError("refused", sent=False)
        if r < 0.3:
            return Response(502, {}, b"")
        if r < 0.35:
            return Response(429, {"x-ratelimit-retry-after": "0.01"}, b"")
        return OK

    client = client_for(FakeBraze(script), max_attempts=3)
    outcomes = by_key(client.track(rows(3000, events=True)))
    assert set(outcomes) == set(range(3000))
    s = client.stats
    assert s.delivered + s.failed == 3000 and s.delivered > 2500


def test_the_api_key_never_shows(caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeBraze(lambda n, b: [Response(503, {}, b""), TransportError("dropped", sent=True),
                                   Response(429, {"x-ratelimit-retry-after": "0.01"}, b""), OK][min(n, 3)])
    client = client_for(fake, workers=1)
    outcomes = list(client.track(rows(3)))
    text = caplog.text + repr(client) + repr(client.destination) + str(client.stats) + repr(outcomes)
    assert KEY not in text
    assert caplog.records  # the retries were logged, with counts only
