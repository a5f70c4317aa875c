"""Delete, alias, identify and subscription calls: grouping into bodies of at most 50, one outcome each."""

from __future__ import annotations

import orjson
import pytest

from reverse_etl.braze import DELIVERED, FAILED, REJECTED, Identifier
from reverse_etl.braze.endpoints import (AliasRow, DeleteRow, IdentifyRow, SubscriptionRow, delete_users, identify,
                                         new_aliases, set_subscription_status)
from reverse_etl.braze.ratelimit import forget_limiters
from reverse_etl.braze.transport import Response
from test_braze_client import FakeBraze, client_for


@pytest.fixture(autouse=True)
def fresh_limiters():
    forget_limiters()
    yield
    forget_limiters()


def ok(n, body):
    return Response(201, {}, b'{"message":"success"}')


def test_delete_groups_by_identifier_kind_in_fifties():
    fake = FakeBraze(ok)
    rows = [DeleteRow(i, Identifier.external_id(f"u{i}")) for i in range(120)]
    rows += [DeleteRow("a", Identifier.alias("n", "crm")), DeleteRow("e", Identifier.email("a@b.co"))]
    outcomes = list(delete_users(client_for(fake), rows))
    assert len(outcomes) == 122 and {o.status for o in outcomes} == {DELIVERED}
    paths = {p for p, _ in fake.bodies}
    assert paths == {"/users/delete"}
    bodies = [b for _, b in fake.bodies]
    sizes = sorted(len(b["external_ids"]) for b in bodies if "external_ids" in b)
    assert sizes == [20, 50, 50]
    assert {"user_aliases": [{"alias_name": "n", "alias_label": "crm"}]} in bodies
    email = next(b for b in bodies if "email_addresses" in b)["email_addresses"][0]
    assert email["email"] == "a@b.co" and email["prioritization"] == ["identified", "most_recently_updated"]
    assert all(len(b) == 1 for b in bodies)  # exactly one kind per request


def test_aliases_identify_and_subscriptions_bodies():
    fake = FakeBraze(ok)
    client = client_for(fake)
    list(new_aliases(client, [AliasRow(1, Identifier.alias("n1", "crm"), "u1"), AliasRow(2, Identifier.alias("n2", "crm"))]))
    list(identify(client, [IdentifyRow(3, "u3", Identifier.alias("n3", "crm")),
                           IdentifyRow(4, "u4", Identifier.email("x@y.co"))]))
    list(set_subscription_status(client, [SubscriptionRow(5, "g1", "subscribed", Identifier.external_id("u5")),
                                          SubscriptionRow(6, "g1", "subscribed", Identifier.email("e@f.co")),
                                          SubscriptionRow(7, "g1", "unsubscribed", Identifier.external_id("u7"))]))
    bodies = {(p, orjson.dumps(b, option=orjson.OPT_SORT_KEYS)) for p, b in fake.bodies}
    expect = [
        ("/users/alias/new", {"user_aliases": [{"alias_name": "n1", "alias_label": "crm", "external_id": "u1"},
                                               {"alias_name": "n2", "alias_label": "crm"}]}),
        ("/users/identify", {"aliases_to_identify": [{"external_id": "u3", "user_alias": {"alias_name": "n3", "alias_label": "crm"}}]}),
        ("/subscription/status/set", {"subscription_group_id": "g1", "subscription_state": "subscribed", "external_id": ["u5"]}),
        ("/subscription/status/set", {"subscription_group_id": "g1", "subscription_state": "subscribed", "email": ["e@f.co"]}),
        ("/subscription/status/set", {"subscription_group_id": "g1", "subscription_state": "unsubscribed", "external_id": ["u7"]}),
    ]
    for path, body in expect:
        assert (path, orjson.dumps(body, option=orjson.OPT_SORT_KEYS)) in bodies
    identify_email = next(b for p, b in fake.bodies if "emails_to_identify" in b)
    assert identify_email["emails_to_identify"][0]["external_id"] == "u4"


def test_invalid_inputs_are_rejected_before_sending():
    fake = FakeBraze(ok)
    client = client_for(fake)
    out = list(set_subscription_status(client, [SubscriptionRow(1, "g", "maybe", Identifier.external_id("u")),
                                                SubscriptionRow(2, "g", "subscribed", Identifier.braze_id("b"))]))
    assert {o.status for o in out} == {REJECTED} and fake.calls == 0
    out = list(identify(client, [IdentifyRow(3, "u", Identifier.external_id("v"))]))
    assert out[0].status == REJECTED and "user_alias, email or phone" in out[0].reason
    out = list(delete_users(client, [DeleteRow(4, Identifier.external_id("x" * 988))]))
    assert out[0].status == REJECTED and "987" in out[0].reason


def test_indexed_errors_and_failures_map_to_inputs():
    body = orjson.dumps({"message": "success", "aliases_processed": 1,
                         "errors": [{"type": "'external_id' is required", "input_array": "user_identifiers", "index": 1}]})
    fake = FakeBraze(lambda n, b: Response(201, {}, body))
    out = {o.key: o for o in identify(client_for(fake), [IdentifyRow(k, f"u{k}", Identifier.alias(f"n{k}", "crm")) for k in (1, 2)])}
    assert out[1].status == DELIVERED and out[2].status == REJECTED and "external_id" in out[2].reason
    down = FakeBraze(lambda n, b: Response(503, {}, b""))
    out = list(delete_users(client_for(down, max_attempts=2), [DeleteRow(1, Identifier.external_id("u"))]))
    assert out[0].status == FAILED and down.calls == 2
