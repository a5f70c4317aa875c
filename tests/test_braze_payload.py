"""Payload building: typed rows to /users/track objects, and rejections of what Braze would refuse."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from reverse_etl.braze import AttributeSpec, Event, Identifier, Purchase, TrackRow
from reverse_etl.braze.payload import PayloadBuilder, Prepared, Rejection
from reverse_etl.errors import ConfigError

SCHEMA = {
    "ltv": "float", "orders": "integer", "vip": "boolean", "segment": "string", "last_order_at": "time",
    "tags": "array", "prefs": AttributeSpec("object", merge=True), "address": "object", "pets": "array",
}


def build(row: TrackRow, schema=SCHEMA) -> Prepared | Rejection:
    return PayloadBuilder(schema).build(row)


def objects(prepared: Prepared) -> tuple[list, list, list]:
    assert isinstance(prepared, Prepared), prepared
    decode = lambda items: [orjson.loads(b) for b in items]  # noqa: E731
    return decode(prepared.attributes), decode(prepared.events), decode(prepared.purchases)


def attrs(values: dict, identifier=None, **kw) -> dict:
    row = TrackRow("k", identifier or Identifier.external_id("u1"), values, **kw)
    return objects(build(row))[0][0]


def test_declared_types_are_written_in_braze_formats():
    paris = timezone(timedelta(hours=2))
    obj = attrs({
        "ltv": Decimal("12.50"), "orders": 3, "vip": True, "segment": "gold",
        "last_order_at": datetime(2026, 5, 1, 12, 0, tzinfo=paris), "tags": ["a", "b"],
    })
    assert obj["ltv"] == 12.5 and isinstance(obj["ltv"], float)
    assert obj["orders"] == 3 and obj["vip"] is True and obj["segment"] == "gold"
    assert obj["last_order_at"] == "2026-05-01T10:00:00Z"  # converted to UTC
    assert obj["tags"] == ["a", "b"]
    assert obj["external_id"] == "u1"


def test_naive_datetimes_and_dates_are_utc():
    obj = attrs({"last_order_at": datetime(2026, 1, 2, 3, 4, 5), "signup": date(2025, 12, 31)})
    assert obj["last_order_at"] == "2026-01-02T03:04:05Z"
    assert obj["signup"] == "2025-12-31T00:00:00Z"  # undeclared date: inferred as time, midnight UTC


def test_none_unsets_any_attribute():
    obj = attrs({"ltv": None, "country": None, "prefs": None})
    assert obj["ltv"] is None and obj["country"] is None and obj["prefs"] is None
    assert "_merge_objects" not in obj  # nothing to merge when the object is removed


def test_objects_use_merge_flag_and_time_markers():
    obj = attrs({"prefs": {"channel": "email", "since": datetime(2024, 2, 3, tzinfo=UTC), "deep": {"n": 1}}})
    assert obj["_merge_objects"] is True
    assert obj["prefs"]["since"] == {"$time": "2024-02-03T00:00:00Z"}
    plain = attrs({"address": {"city": "Lyon"}})
    assert "_merge_objects" not in plain


def test_array_operators_and_arrays_of_objects():
    assert attrs({"tags": {"add": ["x"], "remove": ["y"]}})["tags"] == {"add": ["x"], "remove": ["y"]}
    pets = attrs({"pets": {"$add": [{"id": 1, "born": date(2020, 1, 1)}]}})["pets"]
    assert pets == {"$add": [{"id": 1, "born": {"$time": "2020-01-01T00:00:00Z"}}]}
    assert attrs({"pets": [{"id": 1}, {"id": 2}]})["pets"] == [{"id": 1}, {"id": 2}]


def test_standard_fields_are_normalised():
    obj = attrs({
        "country": "fr", "gender": "female", "dob": date(1990, 4, 5), "email_subscribe": "opted_in",
        "language": "FR", "time_zone": "Europe/Paris", "email": "ann@example.com", "phone": "+33 6 12 34 56 78",
        "subscription_groups": [{"subscription_group_id": "g1", "subscription_state": "subscribed"}],
        "current_location": {"latitude": 45.7, "longitude": 4.8},
    })
    assert obj["country"] == "FR" and obj["gender"] == "F" and obj["dob"] == "1990-04-05"
    assert obj["language"] == "fr" and obj["email_subscribe"] == "opted_in"
    assert obj["subscription_groups"][0]["subscription_state"] == "subscribed"
    assert attrs({"gender": "u"})["gender"] is None  # unknown


@pytest.mark.parametrize("values, reason", [
    ({"segment": "x" * 256}, "at most 255"),
    ({"$bad": 1}, "starts with '$'"),
    ({"orders": 1.5}, "must be an integer"),
    ({"orders": True}, "must be an integer"),
    ({"ltv": math.nan}, "finite"),
    ({"ltv": "12"}, "must be a number"),
    ({"vip": 1}, "must be a boolean"),
    ({"last_order_at": "yesterday"}, "not an ISO-8601"),
    ({"last_order_at": datetime(3001, 1, 1)}, "year 3001"),
    ({"country": "France"}, "alpha-2"),
    ({"gender": "X"}, "M, F, O, N, P"),
    ({"dob": "05/04/1990"}, "YYYY-MM-DD"),
    ({"email_subscribe": "yes"}, "opted_in"),
    ({"email": "not-an-email"}, "not a valid email"),
    ({"time_zone": "Mars/Olympus"}, "IANA"),
    ({"external_id": "x"}, "identifier"),
    ({"address": {"a.b": 1}}, "no '.', '$' or space"),
    ({"address": {"big": "x" * 200} | {f"k{i}": "y" * 250 for i in range(500)}}, "bytes"),
    ({"tags": [object()]}, "array values"),
    ({"email_subscription_info": {}}, "not a valid attribute"),
])
def test_values_braze_would_reject_are_caught_with_a_reason(values, reason):
    result = build(TrackRow("row-9", Identifier.external_id("u1"), values))
    assert isinstance(result, Rejection)
    assert result.key == "row-9"
    assert reason in result.reason


def test_external_id_over_987_bytes_is_rejected_but_987_is_fine():
    ok = build(TrackRow(1, Identifier.external_id("é" * 493 + "a"), {"vip": True}))  # 987 bytes
    assert isinstance(ok, Prepared)
    too_long = build(TrackRow(2, Identifier.external_id("é" * 494), {"vip": True}))  # 988 bytes
    assert isinstance(too_long, Rejection) and "987 bytes" in too_long.reason


@pytest.mark.parametrize("identifier, create, expected", [
    (Identifier.external_id("u1"), True, False),
    (Identifier.external_id("u1"), False, True),
    (Identifier.alias("n1", "crm_id"), True, False),   # false is what creates an alias-only user
    (Identifier.alias("n1", "crm_id"), False, True),
    (Identifier.email("a@b.co"), True, False),
    (Identifier.phone("+33612345678"), False, True),
    (Identifier.braze_id("5e1a"), True, True),          # braze_id never creates a user
])
def test_update_existing_only_per_identifier(identifier, create, expected):
    obj = attrs({"vip": True}, identifier, create=create)
    assert obj["_update_existing_only"] is expected
    for field, value in identifier.fields().items():
        assert obj[field] == value


def test_events_and_purchases_carry_identifier_time_and_properties():
    row = TrackRow("r", Identifier.external_id("u1"), None,
                   events=[Event("viewed", datetime(2026, 3, 1, 8, tzinfo=UTC), {"page": "home", "at": date(2026, 1, 1)})],
                   purchases=[Purchase("sku-1", "eur", Decimal("9.99"), "2026-03-01T09:00:00+01:00", quantity=2)])
    attributes, events, purchases = objects(build(row))
    assert attributes == []
    assert events == [{"external_id": "u1", "name": "viewed", "time": "2026-03-01T08:00:00Z",
                       "properties": {"page": "home", "at": "2026-01-01T00:00:00Z"}, "_update_existing_only": False}]
    assert purchases[0] | {} == {"external_id": "u1", "product_id": "sku-1", "currency": "EUR", "price": 9.99,
                                 "quantity": 2, "time": "2026-03-01T08:00:00Z", "_update_existing_only": False}


def test_alias_events_get_a_creating_attributes_object_and_no_update_flag():
    row = TrackRow("r", Identifier.alias("n1", "crm"), None, events=[Event("e", datetime(2026, 1, 1))])
    attributes, events, _ = objects(build(row))
    assert attributes == [{"user_alias": {"alias_name": "n1", "alias_label": "crm"}, "_update_existing_only": False}]
    assert "_update_existing_only" not in events[0]  # Braze: always true for alias events


@pytest.mark.parametrize("purchase, reason", [
    (Purchase("sku", "EURO", 1.0, datetime(2026, 1, 1)), "ISO-4217"),
    (Purchase("sku", "EUR", 1.0, datetime(2026, 1, 1), quantity=101), "between 1 and 100"),
    (Purchase("sku", "EUR", 1.0, datetime(2026, 1, 1), quantity=0), "between 1 and 100"),
    (Purchase("sku", "EUR", 1.0, datetime(2026, 1, 1), properties={"price": 2}), "reserved"),
    (Purchase("", "EUR", 1.0, datetime(2026, 1, 1)), "product_id"),
])
def test_bad_purchases_are_rejected(purchase, reason):
    result = build(TrackRow("r", Identifier.external_id("u"), None, purchases=[purchase]))
    assert isinstance(result, Rejection) and reason in result.reason


@pytest.mark.parametrize("event, reason", [
    (Event("$internal", datetime(2026, 1, 1)), "starts with '$'"),
    (Event("e", datetime(2026, 1, 1), {"time": 1}), "reserved"),
    (Event("e", None), "must be a datetime"),
    (Event("e", datetime(2026, 1, 1), {"blob": "x" * 255, **{f"k{i}": ["y" * 200] for i in range(600)}}), "bytes"),
])
def test_bad_events_are_rejected(event, reason):
    result = build(TrackRow("r", Identifier.external_id("u"), None, events=[event]))
    assert isinstance(result, Rejection) and reason in result.reason


def test_one_bad_value_rejects_the_whole_row_and_empty_rows_are_rejected():
    row = TrackRow("r", Identifier.external_id("u"), {"vip": True},
                   events=[Event("ok", datetime(2026, 1, 1)), Event("$bad", datetime(2026, 1, 1))])
    assert isinstance(build(row), Rejection)
    empty = build(TrackRow("e", Identifier.external_id("u"), {}))
    assert isinstance(empty, Rejection) and "nothing to send" in empty.reason


def test_identifier_validation():
    assert "alias_name" in build(TrackRow(1, Identifier.alias("", "x"), {"vip": True})).reason
    assert "email" in build(TrackRow(1, Identifier.email("nope"), {"vip": True})).reason
    assert "unknown" in build(TrackRow(1, Identifier("device_id", "d"), {"vip": True})).reason


def test_size_and_count_match_the_encoding():
    row = TrackRow("r", Identifier.external_id("u"), {"segment": "é" * 10},
                   events=[Event("e", datetime(2026, 1, 1))] * 3)
    p = build(row)
    assert p.count == 4
    assert p.size == sum(len(b) for b in p.attributes + p.events + p.purchases)


@pytest.mark.parametrize("schema, message", [
    ({"x": "decimal"}, "unknown"),
    ({"$x": "string"}, "starts with '$'"),
    ({"country": "string"}, "standard field"),
    ({"x": {"type": "string", "merge": True}}, "merge applies"),
])
def test_bad_schema_is_a_config_error(schema, message):
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        PayloadBuilder({k: AttributeSpec(**v) if isinstance(v, dict) else v for k, v in schema.items()})
