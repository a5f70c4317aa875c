"""Contract tests of the local Braze emulator: real HTTP on 127.0.0.1, rules from shared/reference/braze-api.md.

Each test names the rule it checks; the section of braze-api.md is in brackets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from reverse_etl.emulator import EmulatorConfig, start_emulator

KEY = "contract-key-91ab"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def emu():
    with start_emulator(EmulatorConfig(api_key=KEY, rate_limit_requests=None)) as handle:
        yield handle


@pytest.fixture(autouse=True)
def clean(emu):
    emu.reset()


def track(emu, body, headers=AUTH):
    return requests.post(f"{emu.url}/users/track", data=json.dumps(body), headers=headers, timeout=10)


def profile(emu, external_id):
    r = requests.get(f"{emu.url}/_emulator/profiles/{external_id}", timeout=5)
    return r.json() if r.status_code == 200 else None


def profiles(emu):
    return requests.get(f"{emu.url}/_emulator/profiles", timeout=5).json()["profiles"]


def counters(emu):
    return requests.get(f"{emu.url}/_emulator/counters", timeout=5).json()


# ------------------------------------------------------------------------------------------ envelope [1.1, 2.2]
def test_auth_content_type_and_paths(emu):
    body = {"attributes": [{"external_id": "a", "x": 1}]}
    assert track(emu, body, {"Content-Type": "application/json"}).status_code == 401
    assert track(emu, body, {**AUTH, "Authorization": "Bearer wrong"}).status_code == 401
    assert track(emu, body, {**AUTH, "Authorization": KEY}).status_code == 401, "Bearer is required"
    assert track(emu, body, {**AUTH, "Content-Type": "text/plain"}).status_code == 415
    assert requests.post(f"{emu.url}/users/nope", json={}, headers=AUTH, timeout=5).status_code == 404
    assert requests.get(f"{emu.url}/users/track", timeout=5).status_code == 404
    assert track(emu, body, {**AUTH, "Content-Type": "application/json; charset=utf-8"}).status_code == 201


def test_malformed_json_wrong_shapes_and_huge_bodies(emu):
    r = requests.post(f"{emu.url}/users/track", data=b"{'single': quotes,}", headers=AUTH, timeout=5)
    assert r.status_code == 400
    assert track(emu, ["not", "an", "object"]).status_code == 400
    assert track(emu, {"attributes": {"external_id": "x"}}).status_code == 400
    assert track(emu, {}).status_code == 400
    big = {"attributes": [{"external_id": "big", "blob": "x" * 200} for _ in range(25_000)]}
    assert track(emu, big).status_code == 413, "over 4 MB [1.2]"
    assert track(emu, {"attributes": [{"external_id": "after", "n": 1}]}).status_code == 201, "still serving"


def test_object_limit_combined_and_legacy(emu):
    objs = [{"external_id": f"u{i}", "n": i} for i in range(76)]
    r = track(emu, {"attributes": objs})
    assert r.status_code == 400 and r.json()["message"] == "Max Input Length Exceeded"
    split = {"attributes": objs[:40], "events": [{"external_id": "u1", "name": "e", "time": "2026-01-01T00:00:00Z"}] * 36}
    assert track(emu, split).status_code == 400, "75 objects combined across arrays [1.2]"
    with start_emulator(EmulatorConfig(api_key=KEY, rate_limit_requests=None, legacy_per_array=True)) as legacy:
        assert track(legacy, split).status_code == 201, "legacy: 75 per array"
        assert track(legacy, {"attributes": objs}).status_code == 400


# --------------------------------------------------------------------------------------------- identifiers [1.3]
def test_identifier_rules(emu):
    r = track(emu, {"attributes": [
        {"external_id": "ok", "n": 1},
        {"external_id": "x", "braze_id": "y", "n": 1},
        {"external_id": "x", "user_alias": {"alias_name": "a", "alias_label": "l"}, "n": 1},
        {"n": 1},
        {"external_id": "é" * 494, "n": 1},
        {"external_id": "b" * 987, "n": 1},
    ]})
    assert r.status_code == 201
    errors = {e["index"]: e["type"] for e in r.json()["errors"]}
    assert set(errors) == {1, 2, 3, 4}
    assert "user_alias" in errors[2]
    assert "required" in errors[3]
    assert errors[4] == "EXTERNAL_USER_ID_TOO_LARGE", "987 bytes, not characters"
    assert all(e["input_array"] == "attributes" for e in r.json()["errors"])
    assert profile(emu, "ok") and profile(emu, "b" * 987)


def test_braze_id_never_creates_and_aliases_need_update_existing_only_false(emu):
    track(emu, {"attributes": [{"braze_id": "nobody", "n": 1}]})
    alias = {"alias_name": "crm-1", "alias_label": "crm"}
    track(emu, {"attributes": [{"user_alias": alias, "n": 1}]})
    track(emu, {"events": [{"user_alias": alias, "name": "e", "time": "2026-01-01T00:00:00Z",
                            "_update_existing_only": False}]})
    assert profiles(emu) == [], "braze_id never creates; alias creation needs _update_existing_only false"
    track(emu, {"attributes": [{"user_alias": alias, "_update_existing_only": False, "n": 2}]})
    (p,) = profiles(emu)
    assert p["user_aliases"] == [alias] and p["custom_attributes"]["n"] == 2 and p["external_id"] is None
    track(emu, {"attributes": [{"braze_id": p["braze_id"], "n": 3}]})
    assert profiles(emu)[0]["custom_attributes"]["n"] == 3, "braze_id updates an existing profile"
    track(emu, {"attributes": [{"external_id": "new", "_update_existing_only": True, "n": 1}]})
    assert profile(emu, "new") is None


def test_email_identifier_creates_email_only_profiles_and_prefers_identified_ones(emu):
    track(emu, {"attributes": [{"email": "ann@example.org", "n": 1}]})
    (p,) = profiles(emu)
    assert p["email"] == "ann@example.org" and p["external_id"] is None
    track(emu, {"attributes": [{"external_id": "ann", "email": "ann@example.org", "n": 2}]})
    assert len(profiles(emu)) == 2, "an unknown external_id with a known email makes a duplicate [1.3]"
    track(emu, {"attributes": [{"email": "ann@example.org", "n": 3}]})
    assert profile(emu, "ann")["custom_attributes"]["n"] == 3, "the identified profile wins"
    r = track(emu, {"attributes": [{"email": "not-an-email", "n": 1}]})
    assert r.status_code == 400


# ---------------------------------------------------------------------------------------- values [1.4, 1.5]
def test_value_rules_and_operators(emu):
    r = track(emu, {"attributes": [
        {"external_id": "v", "s": "x" * 255, "i": 1, "f": 1.5, "b": True, "arr": ["a", "b", "a"],
         "obj": {"k": {"deep": 1}, "when": {"$time": "2026-01-01"}}, "counter": 5, "gone": "soon"},
        {"external_id": "v2", "s": "x" * 256},
        {"external_id": "v3", "$bad": 1},
        {"external_id": "v4", "obj": {"bad key": 1}},
    ]})
    assert {e["index"] for e in r.json()["errors"]} == {1, 2, 3}
    p = profile(emu, "v")["custom_attributes"]
    assert p["arr"] == ["b", "a"], "arrays are de-duplicated, a repeated value moves to the end"
    track(emu, {"attributes": [{"external_id": "v", "counter": {"inc": -2}, "arr": {"add": ["c"], "remove": ["b"]},
                                "obj": {"k": {"other": 2}}, "_merge_objects": True, "gone": None}]})
    p = profile(emu, "v")["custom_attributes"]
    assert p["counter"] == 3 and p["arr"] == ["a", "c"]
    assert p["obj"]["k"] == {"deep": 1, "other": 2}, "_merge_objects deep-merges"
    assert "gone" not in p, "null unsets"
    track(emu, {"attributes": [{"external_id": "v", "obj": {"k": {"only": 1}}}]})
    assert profile(emu, "v")["custom_attributes"]["obj"] == {"k": {"only": 1}}, "without merge, replaced"


def test_standard_fields(emu):
    r = track(emu, {"attributes": [
        {"external_id": "s", "email": "s@example.org", "country": "fr", "gender": "F", "dob": "1990-02-03",
         "email_subscribe": "opted_in", "first_name": "Sam"},
        {"external_id": "s2", "email": "nope"},
        {"external_id": "s3", "email_subscribe": "maybe"},
        {"external_id": "s4", "dob": "03/02/1990"},
        {"external_id": "s5", "gender": "X"},
        {"external_id": "s6", "country": "Atlantis"},
        {"external_id": "s7", "subscription_groups": [{"subscription_group_id": "g", "subscription_state": "on"}]},
    ]})
    errors = {e["index"]: e["type"] for e in r.json()["errors"]}
    assert set(errors) == {1, 2, 3, 4, 6}
    assert errors[2] == "BAD_EMAIL_SUBSCRIPTION_STATE" and errors[6] == "BAD_SUBSCRIPTION_GROUP_STATE"
    p = profile(emu, "s")
    assert (p["country"], p["dob"], p["email_subscribe"], p["first_name"]) == ("FR", "1990-02-03", "opted_in", "Sam")
    assert profile(emu, "s6").get("country") is None, "an unmappable country is set to null, not rejected"


# ---------------------------------------------------------------------------------- events, purchases [1.6, 1.7]
def test_events_and_purchases(emu):
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = track(emu, {
        "events": [{"external_id": "e", "name": "visit", "time": "2026-01-01T10:00:00Z", "properties": {"n": 1}},
                   {"external_id": "e", "name": "later", "time": future},
                   {"external_id": "e", "name": "no-time"},
                   {"external_id": "e", "time": "2026-01-01T10:00:00Z"},
                   {"external_id": "e", "name": "x", "time": "2026-01-01", "properties": {"time": 1}}],
        "purchases": [{"external_id": "e", "product_id": "p1", "currency": "EUR", "price": 9.5, "quantity": 2,
                       "time": "2026-01-01T10:00:00Z"},
                      {"external_id": "e", "product_id": "p1", "currency": "EURO", "price": 1, "time": "2026-01-01"},
                      {"external_id": "e", "product_id": "p1", "currency": "EUR", "price": 1, "quantity": 101,
                       "time": "2026-01-01"},
                      {"external_id": "e", "currency": "EUR", "price": 1, "time": "2026-01-01"}],
    })
    body = r.json()
    assert r.status_code == 201 and body["events_processed"] == 2 and body["purchases_processed"] == 1
    assert {(e["input_array"], e["index"]) for e in body["errors"]} == {
        ("events", 2), ("events", 3), ("events", 4), ("purchases", 1), ("purchases", 2), ("purchases", 3)}
    p = profile(emu, "e")
    assert [e["name"] for e in p["events"]] == ["visit", "later"]
    assert datetime.fromisoformat(p["events"][1]["time"]) <= datetime.now(UTC), "future times clamped to now"
    assert p["purchases"][0]["quantity"] == 2 and p["purchase_count"] == 2


def test_all_invalid_is_400_and_partial_is_201(emu):
    r = track(emu, {"attributes": [{"n": 1}, {"n": 2}]})
    assert r.status_code == 400 and len(r.json()["errors"]) == 2
    r = track(emu, {"attributes": [{"n": 1}, {"external_id": "fine", "n": 2}]})
    assert r.status_code == 201 and r.json()["attributes_processed"] == 1
    assert r.json()["errors"] == [{"type": "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
                                   "input_array": "attributes", "index": 0}]


# ------------------------------------------------------------------------------------------- data points [3.5]
def test_data_points_are_counted_as_braze_bills_them(emu):
    track(emu, {"attributes": [{"external_id": "d", "a": 1, "b": "x", "email_subscribe": "opted_in",
                                "tags": ["t1", "t2"], "obj": {"k1": 1, "k2": 2}}],
                "events": [{"external_id": "d", "name": "e", "time": "2026-01-01T00:00:00Z"}]})
    # a, b = 2; subscription state not billed; array set = 1; object keys = 2; event = 1
    assert counters(emu)["data_points"] == 6
    track(emu, {"attributes": [{"external_id": "d", "tags": {"add": ["t3", "t4"]}, "a": None}]})
    assert counters(emu)["data_points"] == 6 + 2 + 1, "add: one per value; null unset: one"


# ------------------------------------------------------------------------------------------ rate limits [3.3]
@pytest.mark.parametrize("mode", ["epoch", "delta"])
def test_rate_limit_headers_and_429(mode):
    with start_emulator(EmulatorConfig(api_key=KEY, rate_limit_requests=3, rate_limit_period=2.0,
                                       reset_header=mode)) as emu:
        # Seven quick requests span at most two windows of three: at least one is refused.
        answers = [track(emu, {"attributes": [{"external_id": "r", "n": i}]}) for i in range(7)]
    assert answers[0].status_code == 201
    assert sum(a.status_code == 201 for a in answers) <= 6
    limited = [a for a in answers if a.status_code == 429]
    ok = [a for a in answers if a.status_code == 201]
    assert limited, "the fourth request in a window of three is refused"
    assert ok[0].headers["X-RateLimit-Limit"] == "3"
    reset = int(ok[0].headers["X-RateLimit-Reset"])
    assert (reset > 1_000_000_000) if mode == "epoch" else (0 <= reset <= 2)
    assert 1 <= int(limited[0].headers["X-Ratelimit-Retry-After"]) <= 2
    assert limited[0].headers["Retry-After"] == limited[0].headers["X-Ratelimit-Retry-After"]


# ----------------------------------------------------------------------------------------- other endpoints [5]
def post(emu, path, body):
    return requests.post(f"{emu.url}{path}", json=body, headers=AUTH, timeout=10)


def test_export_delete_alias_identify_merge_subscriptions(emu):
    track(emu, {"attributes": [{"external_id": "a", "email": "a@example.org", "n": 1},
                               {"external_id": "b", "n": 2},
                               {"email": "anon@example.org", "n": 3}]})
    assert post(emu, "/users/export/ids", {"external_ids": ["a"]}).status_code == 400, "fields_to_export required"
    out = post(emu, "/users/export/ids", {"external_ids": ["a", "zz"], "fields_to_export": ["email"]}).json()
    assert out["users"] == [{"external_id": "a", "email": "a@example.org"}] and out["invalid_user_ids"] == ["zz"]
    assert post(emu, "/users/export/ids", {"external_ids": [str(i) for i in range(51)],
                                           "fields_to_export": ["email"]}).status_code == 400
    r = post(emu, "/users/alias/new", {"user_aliases": [{"external_id": "a", "alias_name": "c1", "alias_label": "crm"},
                                                         {"alias_name": "solo", "alias_label": "crm"}]})
    assert r.json()["aliases_processed"] == 2
    assert profile(emu, "a")["user_aliases"] == [{"alias_name": "c1", "alias_label": "crm"}]
    r = post(emu, "/users/identify", {"emails_to_identify": [{"external_id": "anon", "email": "anon@example.org",
                                                             "prioritization": ["unidentified"]}],
                                      "aliases_to_identify": [{"external_id": "b", "user_alias": {
                                          "alias_name": "solo", "alias_label": "crm"}}]})
    assert r.json()["aliases_processed"] == 2
    assert profile(emu, "anon")["custom_attributes"]["n"] == 3, "the email-only profile got the external_id"
    assert profile(emu, "b")["user_aliases"] == [{"alias_name": "solo", "alias_label": "crm"}]
    assert len(profiles(emu)) == 3, "the alias-only profile was merged into b"
    assert post(emu, "/users/merge", {"merge_updates": [{"identifier_to_merge": {"external_id": "anon"},
                                                         "identifier_to_keep": {"external_id": "a"}}]}).status_code == 202
    assert profile(emu, "anon") is None
    both = post(emu, "/subscription/status/set", {"subscription_group_id": "g1", "subscription_state": "subscribed",
                                                   "email": ["a@example.org"], "phone": ["+33600000000"]})
    assert both.status_code == 400 and "not both" in both.json()["message"]
    assert post(emu, "/subscription/status/set", {"subscription_group_id": "g1", "subscription_state": "subscribed",
                                                   "external_id": ["a"]}).status_code == 201
    assert profile(emu, "a")["subscription_groups"] == {"g1": "subscribed"}
    r = post(emu, "/users/delete", {"external_ids": ["a", "b", "nobody"]})
    assert r.json()["deleted"] == 2 and profiles(emu) == []
    assert post(emu, "/users/delete", {"external_ids": ["x"], "braze_ids": ["y"]}).status_code == 400


# ----------------------------------------------------------------------------------------------- faults [issue]
def test_injected_faults(emu):
    body = {"attributes": [{"external_id": "f", "n": 1}]}
    requests.post(f"{emu.url}/_emulator/faults", json={"error_rate": 1.0, "error_statuses": [503]}, timeout=5)
    assert track(emu, body).status_code == 503 and profile(emu, "f") is None, "a 5xx applies nothing"
    requests.post(f"{emu.url}/_emulator/faults", json={"drop_before_apply_rate": 1.0}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        track(emu, body)
    assert profile(emu, "f") is None
    requests.post(f"{emu.url}/_emulator/faults", json={"drop_after_apply_rate": 1.0}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        track(emu, body)
    assert profile(emu, "f") is not None, "dropped after being applied: it was applied"
    requests.post(f"{emu.url}/_emulator/faults", json={"rate_limit_burst": 2}, timeout=5)
    assert [track(emu, body).status_code for _ in range(3)] == [429, 429, 201]
    requests.post(f"{emu.url}/_emulator/faults", json={"hang_rate": 1.0, "hang_seconds": 2}, timeout=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{emu.url}/users/track", json=body, headers=AUTH, timeout=0.5)
    assert requests.post(f"{emu.url}/_emulator/faults", json={"nonsense": 1}, timeout=5).status_code == 400
    assert counters(emu)["faults_injected"] >= 5


def test_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with start_emulator(EmulatorConfig(api_key=KEY, state_file=str(state))) as emu:
        track(emu, {"attributes": [{"external_id": "kept", "n": 1}]})
    with start_emulator(EmulatorConfig(api_key=KEY, state_file=str(state))) as emu:
        assert profile(emu, "kept")["custom_attributes"]["n"] == 1


def test_cli_runs_in_the_foreground_and_stops_on_sigterm():
    from reverse_etl.embedded import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "reverse_etl", "emulator", "--port", str(port)],
                            env=dict(os.environ, RSYNC_BRAZE_EMULATOR_KEY=KEY), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                r = requests.post(f"http://127.0.0.1:{port}/users/track", json={"attributes": [
                    {"external_id": "cli", "n": 1}]}, headers=AUTH, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert r.status_code == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
