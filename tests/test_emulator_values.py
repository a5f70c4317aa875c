"""Unit tests of the emulator's pure rules (no HTTP): values, /users/track processing, faults, other endpoints.

Sections of shared/reference/braze-api.md in brackets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reverse_etl.emulator import others, track
from reverse_etl.emulator import values as v
from reverse_etl.emulator.faults import FaultError, Faults, validate
from reverse_etl.emulator.store import Store


def run(store: Store, body: dict, **opts) -> track.TrackResult:
    track.check_shape(body, 75, False)
    return track.process(store, body, track.TrackOptions(**opts))


# ------------------------------------------------------------------------------------------------ values [1.4]
@pytest.mark.parametrize("text", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00", "2026-01-02T03:04:05:123Z",
                                  "2026-01-02T03:04:05", "2026-01-02 03:04:05", "2026-01-02", "01/02/2026"])
def test_accepted_date_formats(text):
    parsed = v.parse_time(text, "t")
    assert parsed.tzinfo is not None and parsed.date().isoformat() in ("2026-01-02", "2026-01-01")


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-45", 12, None])
def test_bad_dates_are_invalid(text):
    with pytest.raises(v.Invalid):
        v.parse_time(text, "t")


def test_no_zone_means_utc_and_future_event_times_are_clamped():
    assert v.parse_time("2026-01-02", "t") == datetime(2026, 1, 2, tzinfo=UTC)
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert datetime.fromisoformat(v.event_time(future)) <= datetime.now(UTC)


def test_strings_keys_and_nested_objects():
    assert v.string("x" * 255, "s") == "x" * 255
    with pytest.raises(v.Invalid):
        v.string("x" * 256, "s")
    for bad in ("", "$x", "k" * 256):
        with pytest.raises(v.Invalid):
            v.key(bad, "name")
    for bad in ({"a b": 1}, {"a.b": 1}, {"$a": 1}, {"d": {"$time": None}}, {"d": {"$time": "nope"}}):
        with pytest.raises(v.Invalid):
            v.nested(bad, "obj")
    with pytest.raises(v.Invalid, match="100 KB"):
        v.nested({f"k{i}": "x" * 250 for i in range(500)}, "obj")


def test_standard_fields_and_error_codes():
    assert v.standard("country", "fr") == "FR" and v.standard("country", "France") is None
    assert v.standard("gender", "f") == "F"
    for name, value, code in [("email", "nope", "EMAIL_BAD_FORMAT"),
                              ("email_subscribe", "yes", "BAD_EMAIL_SUBSCRIPTION_STATE"),
                              ("push_subscribe", "yes", "BAD_PUSH_SUBSCRIPTION_STATE"),
                              ("subscription_groups", {}, "BAD_SUBSCRIPTION_GROUP_ARRAY"),
                              ("subscription_groups", ["x"], "BAD_SUBSCRIPTION_GROUP_HASH"),
                              ("subscription_groups", [{"subscription_state": "subscribed"}], "BAD_SUBSCRIPTION_GROUP_ID"),
                              ("current_location", {"longitude": 1}, "BAD_LOCATION_UPDATE"),
                              ("push_tokens", [{"token": "t"}], "BAD_PUSH_TOKEN_APP_ID"),
                              ("push_tokens", [{"app_id": "a", "token": "t", "device_id": "short"}], "BAD_DEVICE_ID")]:
        with pytest.raises(v.Invalid) as info:
            v.standard(name, value)
        assert info.value.code == code
        assert info.value.type_for("codes") == code and info.value.type_for("text") != code


# --------------------------------------------------------------------------------------- /users/track [1, 3.5]
def test_documented_alias_only_example_creates_only_with_update_existing_only_false():
    store = Store()
    alias = {"alias_name": "example_name", "alias_label": "example_label"}
    assert run(store, {"attributes": [{"user_alias": alias, "email": "a@example.org"}]}).status == 201
    assert not store.profiles, "update-only defaults to true for aliases [1.3]"
    run(store, {"attributes": [{"user_alias": alias, "_update_existing_only": False, "email": "a@example.org"}]})
    (p,) = store.profiles.values()
    assert p["user_aliases"] == [alias] and p["email"] == "a@example.org"


def test_email_wins_over_phone_and_primary_identifiers_make_them_plain_writes():
    store = Store()
    run(store, {"attributes": [{"email": "e@example.org", "phone": "+33600000001", "n": 1}]})
    (p,) = store.profiles.values()
    assert p["email"] == "e@example.org" and p["phone"] == "+33600000001"
    assert store.by_field("email", "e@example.org") is p
    run(store, {"attributes": [{"external_id": "x", "email": "e@example.org"}]})
    assert len(store.profiles) == 2 and store.by_external_id("x")["email"] == "e@example.org"


def test_data_points_rules():
    store = Store()
    cases = [({"a": 1}, 1), ({"a": None}, 1), ({"arr": [1, 2, 3]}, 1), ({"arr": {"add": [4, 5]}}, 2),
             ({"obj": {"k": 1, "sub": {"x": 1, "y": 2}}}, 4), ({"counter": {"inc": 3}}, 0),
             ({"email_subscribe": "subscribed", "push_subscribe": "opted_in"}, 0),
             ({"subscription_groups": [{"subscription_group_id": "g", "subscription_state": "subscribed"}]}, 0),
             ({"first_name": "A", "country": "FR"}, 2)]
    for attrs, expected in cases:
        result = run(store, {"attributes": [{"external_id": "dp", **attrs}]})
        assert result.data_points == expected, attrs
    result = run(store, {"events": [{"external_id": "dp", "name": "e", "time": "2026-01-01"}] * 3,
                         "purchases": [{"external_id": "dp", "product_id": "p", "currency": "EUR", "price": 1,
                                        "time": "2026-01-01"}]})
    assert result.data_points == 4, "each event and purchase is one data point"


def test_invalid_value_skips_the_whole_object():
    store = Store()
    result = run(store, {"attributes": [{"external_id": "w", "good": 1, "bad": "x" * 300}]})
    assert result.status == 400 and store.by_external_id("w") is None


def test_arrays_truncate_to_the_newest_and_objects_arrays_operators():
    store = Store()
    run(store, {"attributes": [{"external_id": "a", "tags": [str(i) for i in range(8)]}]}, array_max=5)
    assert store.by_external_id("a")["custom_attributes"]["tags"] == ["3", "4", "5", "6", "7"]
    run(store, {"attributes": [{"external_id": "a", "pets": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]}]})
    run(store, {"attributes": [{"external_id": "a", "pets": {"$add": [{"id": 3, "n": "c"}],
                                                             "$remove": [{"$identifier_key": "id",
                                                                          "$identifier_value": 1}]}}]})
    run(store, {"attributes": [{"external_id": "a", "_merge_objects": True, "pets": {"$update": [
        {"$identifier_key": "id", "$identifier_value": 2, "$new_object": {"age": 4}}]}}]})
    assert store.by_external_id("a")["custom_attributes"]["pets"] == [{"id": 2, "n": "b", "age": 4}, {"id": 3, "n": "c"}]
    result = run(store, {"attributes": [{"external_id": "a", "pets": {"$update": [
        {"$identifier_key": "id", "$identifier_value": 2, "$new_object": {"age": 5}}]}}]})
    assert result.status == 400, "$update needs _merge_objects true [1.4]"


def test_error_types_text_gives_the_observed_messages():
    store = Store()
    result = run(store, {"attributes": [{"external_id": "t", "email": "bad"}, {"external_id": "ok", "n": 1}],
                         "purchases": [{"external_id": "t", "product_id": "p", "currency": "EUR", "price": 1,
                                        "quantity": 0, "time": "2026-01-01"}]}, error_types="text")
    types = [e["type"] for e in result.body["errors"]]
    assert types == ["The value provided for the 'email' field is not a valid email.", "'quantity' is not valid"]


def test_push_token_import_and_blocked_external_ids():
    store = Store()
    token = [{"app_id": "app", "token": "tok"}]
    assert run(store, {"attributes": [{"push_token_import": True, "push_tokens": token}]}).status == 201
    (p,) = store.profiles.values()
    assert p["push_tokens"] == token and p["external_id"] is None
    result = run(store, {"attributes": [{"push_token_import": True, "external_id": "x", "push_tokens": token},
                                        {"external_id": "undefined", "n": 1}, {"external_id": "fine", "n": 1}]},
                 blocked_external_ids=frozenset({"undefined"}))
    assert [e["type"] for e in result.body["errors"]] == ["BAD_PUSH_TOKEN_IMPORT", "BLACKLISTED_EXTERNAL_USER_ID"]


def test_email_subscribe_reaches_every_profile_sharing_the_email():
    store = Store()
    # An email-only profile, then an identified one with the same email: a duplicate [1.3].
    run(store, {"attributes": [{"email": "s@example.org"}, {"external_id": "a", "email": "s@example.org"}]})
    assert len(store.profiles) == 2
    run(store, {"attributes": [{"external_id": "a", "email_subscribe": "unsubscribed"}]})
    assert [p.get("email_subscribe") for p in store.profiles.values()] == ["unsubscribed", "unsubscribed"]


def test_envelope_checks():
    for body, message in [([], "JSON object"), ({"attributes": {}}, "must be an array"), ({}, "Valid data"),
                          ({"attributes": []}, "Valid data"),
                          ({"attributes": [{}] * 50, "events": [{}] * 26}, "Max Input Length Exceeded")]:
        with pytest.raises(track.BodyError, match=message):
            track.check_shape(body, 75, False)
    track.check_shape({"attributes": [{}] * 75, "events": [{}] * 75, "purchases": [{}] * 75}, 75, True)


# --------------------------------------------------------------------------------------------------- others [5]
def test_export_view_summarises_events_and_purchases():
    store = Store()
    run(store, {"events": [{"external_id": "x", "name": "e", "time": t} for t in ("2026-01-02", "2026-01-01")],
                "purchases": [{"external_id": "x", "product_id": "p", "currency": "EUR", "price": 2.5, "quantity": 2,
                               "time": "2026-01-01"}]})
    status, out = others.export_ids(store, {"external_ids": ["x"], "fields_to_export": ["custom_events",
                                                                                          "purchases", "total_revenue"]},
                                    True)
    (user,) = out["users"]
    assert status == 201 and user["custom_events"][0]["count"] == 2
    assert user["custom_events"][0]["first"].startswith("2026-01-01") and user["custom_events"][0]["last"].startswith("2026-01-02")
    assert user["purchases"][0]["count"] == 2 and user["total_revenue"] == 5.0


def test_delete_by_email_with_several_matches_deletes_nothing_without_a_rule():
    store = Store()
    run(store, {"attributes": [{"email": "d@example.org"}, {"external_id": "a", "email": "d@example.org"}]})
    status, out = others.delete(store, {"email_addresses": [{"email": "d@example.org", "prioritization": []}]})
    assert status == 202 and out["deleted"] == 0 and len(store.profiles) == 2
    status, out = others.delete(store, {"email_addresses": [{"email": "d@example.org",
                                                             "prioritization": ["unidentified"]}]})
    assert out["deleted"] == 1 and store.by_external_id("a") is not None


# ---------------------------------------------------------------------------------------------------- faults
def test_fault_settings_are_validated_and_seeded():
    for bad in ({"error_rate": 2}, {"nonsense": 1}, {"error_statuses": [200]}, {"rate_limit_burst": -1}, [1]):
        with pytest.raises(FaultError):
            validate(bad)
    a, b = Faults({"error_rate": 0.5, "seed": 7}), Faults({"error_rate": 0.5, "seed": 7})
    draws = [a.roll("error_rate") for _ in range(50)]
    assert draws == [b.roll("error_rate") for _ in range(50)] and 10 < sum(draws) < 40


# ------------------------------------------------------------------------------------------------ robustness
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20)
keys = st.sampled_from(["external_id", "user_alias", "braze_id", "email", "phone", "_update_existing_only",
                        "_merge_objects", "push_token_import", "country", "gender", "dob", "email_subscribe",
                        "subscription_groups", "push_tokens", "current_location", "name", "time", "product_id",
                        "currency", "price", "quantity", "properties", "tags", "obj", "$x", ""]) | st.text(max_size=5)
objects = st.dictionaries(keys, json_values | st.dictionaries(st.sampled_from(["inc", "add", "remove", "$add",
                                                                               "$remove", "$update", "$time"]),
                                                              json_values, max_size=2), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(objects, max_size=4), st.lists(objects, max_size=3), st.lists(objects, max_size=3))
def test_any_json_objects_give_an_answer_never_an_exception(attributes, events, purchases):
    body = {k: val for k, val in (("attributes", attributes), ("events", events), ("purchases", purchases)) if val}
    if not body:
        return
    result = track.process(Store(), body)
    assert result.status in (201, 400)
    assert result.object_errors == len(result.body.get("errors", []))


def test_created_braze_ids_are_24_hex_digits_and_distinct_within_and_across_stores():
    first, second = Store(), Store()
    ids = [first.create(external_id=f"a{i}")["braze_id"] for i in range(20_000)]
    ids += [second.create(external_id=f"b{i}")["braze_id"] for i in range(20_000)]
    assert all(len(b) == 24 and int(b, 16) >= 0 for b in ids)
    assert len(set(ids)) == len(ids), "two profiles got the same braze_id"
