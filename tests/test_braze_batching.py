"""Batching: object limits (combined and legacy per array), body size, whole rows per request."""

from __future__ import annotations

from datetime import datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reverse_etl.braze import Event, Identifier, Purchase, TrackRow
from reverse_etl.braze.batching import Batch, Batcher
from reverse_etl.braze.payload import PayloadBuilder, Rejection

BUILDER = PayloadBuilder()
T = datetime(2026, 1, 1)


def prepared(key, *, attrs=True, events=0, purchases=0, user=None, payload="x"):
    row = TrackRow(key, Identifier.external_id(user or f"u{key}"), {"note": payload} if attrs else None,
                   events=[Event(f"e{i}", T) for i in range(events)],
                   purchases=[Purchase(f"p{i}", "EUR", 1.0, T) for i in range(purchases)])
    return BUILDER.build(row)


def split(batcher, items):
    out = list(batcher.batches(items))
    return [b for b in out if isinstance(b, Batch)], [r for r in out if isinstance(r, Rejection)]


def test_combined_limit_counts_all_arrays():
    items = [prepared(i, events=1, purchases=1) for i in range(100)]  # 3 objects per row
    batches, rejected = split(Batcher(75), items)
    assert not rejected
    assert [b.count for b in batches] == [75, 75, 75, 75]
    assert sum(len(b.rows) for b in batches) == 100


def test_legacy_limit_is_per_array():
    items = [prepared(i, events=1, purchases=1) for i in range(100)]
    batches, _ = split(Batcher(75, per_array=True), items)
    assert [len(b.rows) for b in batches] == [75, 25]
    body = orjson.loads(batches[0].body())
    assert len(body["attributes"]) == len(body["events"]) == len(body["purchases"]) == 75


def test_a_row_is_never_split_across_requests():
    items = [prepared(0, events=40), prepared(1, events=40)]  # 41 objects each; 82 > 75
    batches, _ = split(Batcher(75), items)
    assert [len(b.rows) for b in batches] == [1, 1]
    for b in batches:
        body = orjson.loads(b.body())
        assert {o["external_id"] for o in body["attributes"] + body["events"]} == {b.rows[0].identity.split("\x00")[1]}


def test_row_larger_than_a_request_is_rejected_with_reason():
    batches, rejected = split(Batcher(75), [prepared(0, events=80), prepared(1)])
    assert [r.key for r in rejected] == [0] and "split its events" in rejected[0].reason
    assert [row.key for b in batches for row in b.rows] == [1]
    _, rejected = split(Batcher(75, per_array=True), [prepared(0, events=76)])
    assert "per array" in rejected[0].reason


def test_body_stays_under_the_byte_limit():
    items = [prepared(i, payload="y" * 250) for i in range(40)]
    limit = 2_000
    batches, _ = split(Batcher(75, max_bytes=limit), items)
    assert len(batches) > 1
    for b in batches:
        assert len(b.body()) <= limit
    too_big = prepared(99, payload="z" * 250)
    _, rejected = split(Batcher(75, max_bytes=200), [too_big])
    assert "bytes" in rejected[0].reason


def test_positions_map_each_array_index_to_its_row():
    items = [prepared(0, events=2), prepared(1, attrs=False, purchases=1), prepared(2, events=1)]
    (batch,), _ = split(Batcher(75), items)
    assert batch.positions == {"attributes": [0, 2], "events": [0, 0, 2], "purchases": [1]}
    body = orjson.loads(batch.body())
    assert [o["external_id"] for o in body["events"]] == ["u0", "u0", "u2"]
    assert "purchases" in body and body["purchases"][0]["external_id"] == "u1"


def test_rejections_pass_through_in_order():
    bad = BUILDER.build(TrackRow("bad", Identifier.external_id("u"), {"$x": 1}))
    out = list(Batcher(75).batches([prepared(0), bad, prepared(1)]))
    assert isinstance(out[0], Rejection) and out[0].key == "bad"
    assert [r.key for r in out[1].rows] == [0, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.booleans()), max_size=60),
       st.integers(1, 75), st.booleans())
def test_every_row_lands_in_exactly_one_batch_within_limits(shape, limit, per_array):
    items = [prepared(i, attrs=a or (e == 0 and p == 0), events=e, purchases=p) for i, (e, p, a) in enumerate(shape)]
    batcher = Batcher(limit, per_array=per_array)
    batches, rejected = split(batcher, items)
    keys = [row.key for b in batches for row in b.rows] + [r.key for r in rejected]
    assert sorted(keys) == list(range(len(items)))
    for b in batches:
        body = orjson.loads(b.body())
        sizes = [len(body.get(a, [])) for a in ("attributes", "events", "purchases")]
        assert (max(sizes) if per_array else sum(sizes)) <= limit
    for r in rejected:
        item = items[r.key]
        worst = max(len(item.attributes), len(item.events), len(item.purchases)) if per_array else item.count
        assert worst > limit
