"""Zendesk sources against the real warehouse and a Zendesk fake over real HTTP on loopback.

Tickets and users through the cursor-based incremental export: first load, incremental runs from the stored
after_cursor, deleted items flagged, the last minute's changes left for the next run, a real sliding-window
rate limit and injected 429s waited out, failures and a SIGKILL mid-export resumed from the stored cursor with
nothing doubled or missed, bad configuration and the API token kept out of every message and log.
"""

from __future__ import annotations

import logging
import time

import pytest
from _api_sources import ApiProject, api_project, config_problems, kill_after_pages  # noqa: F401 - fixture

from reverse_etl.errors import ConfigError
from reverse_etl.sources.fakes import FakeZendesk
from reverse_etl.sources.http import ApiError

pytestmark = pytest.mark.db
TOKEN = "zd-api-token-41f0aa9b"
EMAIL = "etl@acme.com"
ENV = {"TEST_ZD_TOKEN": TOKEN}


@pytest.fixture
def zd(monkeypatch):
    monkeypatch.setenv("TEST_ZD_TOKEN", TOKEN)
    with FakeZendesk(email=EMAIL, token=TOKEN) as fake:
        yield fake


def source(project: ApiProject, fake: FakeZendesk, resource: str = "users", name: str = "zd_users", **extra) -> None:
    options = {"type": "zendesk", "schema": project.schema, "resource": resource, "url": fake.url, "email": EMAIL,
               "api_token_env": "TEST_ZD_TOKEN", "per_page": 2, "max_retries": 2, "backoff_max_seconds": 1, **extra}
    project.manifest(f"{name}:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items() if v is not None))


def users(fake: FakeZendesk, n: int, start: int = 0) -> list[int]:
    return [fake.put("users", {"email": f"user{i}@example.com", "name": f"User {i}"}) for i in range(start, start + n)]


def assert_mirrors(project: ApiProject, fake: FakeZendesk, resource: str = "users", name: str = "zd_users") -> None:
    """The raw table holds exactly the fake's items, each at its latest version, deleted ones flagged."""
    raw = project.raw(name)
    want = fake.items[resource]
    assert set(raw) == {str(i) for i in want}
    for item_id, item in want.items():
        deleted, payload, _ = raw[str(item_id)]
        assert payload == item
        assert deleted == (item.get("status") == "deleted" if resource == "tickets" else item["active"] is False)


def test_first_load_then_only_changes_and_deletes_flagged(api_project, zd):
    ids = users(zd, 5)
    zd.settle()
    source(api_project, zd)
    [first] = api_project.ingest()
    assert (first.records, first.changed, first.deleted) == (5, 5, 0)
    assert first.pages == 3  # 2 + 2 + 1 a page
    assert_mirrors(api_project, zd)
    cursor = api_project.cursor("zd_users")
    assert cursor == first.cursor

    zd.put("users", {"id": ids[0], "email": "new-address@example.com"})
    zd.delete("users", ids[3])
    users(zd, 1, start=50)
    zd.settle()
    [second] = api_project.ingest()
    assert (second.records, second.changed, second.deleted) == (3, 3, 1)  # only what changed, from the cursor
    assert_mirrors(api_project, zd)
    params = [p for m, p in zd.requests]
    assert all(p == "/api/v2/incremental/users/cursor.json" for p in params)

    [third] = api_project.ingest()
    assert (third.records, third.changed) == (0, 0)


def test_changes_of_the_last_minute_come_in_the_next_run(api_project, zd):
    users(zd, 2)
    zd.settle()
    users(zd, 1, start=10)  # changed just now: the export leaves it out for a minute
    source(api_project, zd)
    [first] = api_project.ingest()
    assert first.records == 2 and len(api_project.raw("zd_users")) == 2
    zd.settle()
    [second] = api_project.ingest()
    assert second.records == 1
    assert_mirrors(api_project, zd)


def test_tickets_deleted_status_and_start(api_project, zd):
    zd.put("tickets", {"subject": "before the start"})
    zd.advance(3600)
    start = zd.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    later = [zd.put("tickets", {"subject": f"printer on fire {i}", "requester_id": 7}) for i in range(3)]
    zd.delete("tickets", later[1])
    zd.settle()
    source(api_project, zd, resource="tickets", name="zd_tickets", start=f'"{start}"')
    [result] = api_project.ingest()
    raw = api_project.raw("zd_tickets")
    assert set(raw) == {str(i) for i in later}, "start leaves older tickets out"
    assert raw[str(later[1])][0] is True and raw[str(later[0])][0] is False
    assert result.deleted == 1 and raw[str(later[1])][1]["status"] == "deleted"


def test_rate_limit_window_and_injected_429s_are_waited_out(api_project, zd):
    users(zd, 7)
    zd.settle()
    source(api_project, zd, max_retries=6, backoff_max_seconds=5)
    zd.rate_limit(2, per_seconds=3)  # 4 pages: the 3rd request has to wait for the window
    zd.inject(1, status=429, retry_after=1)
    started = time.monotonic()
    [result] = api_project.ingest()
    elapsed = time.monotonic() - started
    assert result.records == 7 and zd.statuses[429] >= 2 and result.retries == zd.statuses[429]
    assert elapsed >= 2.0, f"Retry-After not honoured: {elapsed:.2f}s"
    assert_mirrors(api_project, zd)


def test_failure_mid_export_resumes_from_the_stored_cursor(api_project, zd):
    ids = users(zd, 9)
    zd.settle()
    source(api_project, zd, max_retries=1)
    zd.break_after(2)
    with pytest.raises(ApiError, match=r"^Source 'zd_users' \(Zendesk users\): HTTP 500 after 1 retries .*resumes "
                                       r"from the stored cursor"):
        api_project.ingest()
    assert set(api_project.raw("zd_users")) == {str(i) for i in ids[:4]}
    stored = api_project.cursor("zd_users")
    zd.repair()
    zd.put("users", {"id": ids[1], "name": "changed after landing"})
    zd.put("users", {"id": ids[6], "name": "changed before landing"})
    zd.settle()
    [result] = api_project.ingest()
    assert result.records == 6 and result.changed == 6  # ids 4, 5, 7, 8 and 6 (at its new place) new; 1 changed
    assert_mirrors(api_project, zd)
    assert api_project.cursor("zd_users") != stored


@pytest.mark.slow
def test_sigkill_mid_export_loses_and_doubles_nothing(api_project, zd):
    users(zd, 40)
    zd.settle()
    source(api_project, zd)
    zd.delay = 0.15  # 20 pages of 2
    kill_after_pages(api_project, api_project.popen("zd_users", env=ENV), 4)
    assert 8 <= len(api_project.raw("zd_users")) < 40
    zd.delay = 0
    done = api_project.cli("zd_users", env=ENV)
    assert done.returncode == 0, done.stderr
    assert_mirrors(api_project, zd)
    assert api_project.query('select count(*), count(distinct _id) from {s}."raw_zd_users"') == [(40, 40)]


def test_bad_token_and_missing_variable_are_clear_and_secret_free(api_project, zd, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    users(zd, 1)
    zd.settle()
    source(api_project, zd)
    monkeypatch.setenv("TEST_ZD_TOKEN", "wrong-" + TOKEN)
    with pytest.raises(ApiError) as info:
        api_project.ingest()
    assert str(info.value) == (
        "Source 'zd_users' (Zendesk users): HTTP 401 (Couldn't authenticate you); Zendesk refused the API token: "
        "check that TEST_ZD_TOKEN holds a token of etl@acme.com and that token access is on (Admin Center > Apps "
        "and integrations > Zendesk API).")
    monkeypatch.delenv("TEST_ZD_TOKEN")
    with pytest.raises(ConfigError, match="environment variable TEST_ZD_TOKEN is not set"):
        api_project.ingest()
    assert TOKEN not in caplog.text
    bad = api_project.cli("zd_users", env={"TEST_ZD_TOKEN": "wrong-" + TOKEN})
    good = api_project.cli("zd_users", env=ENV)
    assert bad.returncode == 4 and "HTTP 401" in bad.stderr
    assert good.returncode == 0 and "1 records read in 1 page(s), 1 new or changed, 0 deleted" in good.stdout
    for text in (bad.stdout, bad.stderr, good.stdout, good.stderr):
        assert TOKEN not in text
    assert TOKEN not in str(api_project.query("select * from {st}.source_cursors"))


@pytest.mark.parametrize("body, where, words", [
    ({"resource": "users", "url": "https://acme.zendesk.com", "email": EMAIL}, "api_token_env", "required"),
    ({"resource": "tickets", "url": "http://acme.zendesk.com", "email": EMAIL, "api_token_env": "T"}, "url",
     "must use HTTPS"),
    ({"resource": "tickets", "url": "https://acme.zendesk.com/api/v2", "email": EMAIL, "api_token_env": "T"}, "url",
     "without a path"),
    ({"resource": "orgs", "url": "https://acme.zendesk.com", "email": EMAIL, "api_token_env": "T"}, "resource",
     "tickets, users"),
    ({"resource": "users", "url": "https://acme.zendesk.com", "email": "etl", "api_token_env": "T"}, "email",
     "not an email address"),
    ({"resource": "users", "url": "https://acme.zendesk.com", "email": EMAIL, "api_token_env": "T",
      "api_token": "tok-in-yaml-99"}, "api_token", "secrets never go in the manifest"),
    ({"resource": "users", "url": "https://acme.zendesk.com", "email": EMAIL, "api_token_env": "T",
      "per_page": 5000}, "per_page", "at most 1000"),
])
def test_each_config_problem_names_the_key_and_the_fix(tmp_path, body, where, words):
    message = config_problems(tmp_path, "desk", {"type": "zendesk", **body})
    assert f"sources.desk.{where}: " in message and words in message
    assert "tok-in-yaml-99" not in message


@pytest.mark.dbt
def test_staging_model_normalizes_landed_users(api_project, zd):
    from _api_sources import dbt_build

    ann = zd.put("users", {"email": " Ann.Smith@Example.COM", "phone": "06 12 34 56 78", "name": "ann smith"})
    gone = zd.put("users", {"email": "bob@example.com", "name": "Bob"})
    zd.delete("users", gone)
    zd.settle()
    source(api_project, zd)
    api_project.ingest()
    rows = dbt_build(api_project, "stg_zendesk__users", {
        "rsync_braze_zendesk_enabled": True, "rsync_braze_zendesk_users_table": "raw_zd_users"})
    by_id = {r[0]: r for r in rows}
    assert by_id[str(ann)][1:6] == ("ann.smith@example.com", "+33612345678", "Ann Smith", None, "end-user")
    assert by_id[str(ann)][8] is False and by_id[str(gone)][8] is True


def test_demo_fakes_serve_people_both_sources_land(api_project):
    """`python -m reverse_etl.sources.fakes` prints a working sources: snippet; half its people are in both."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "reverse_etl.sources.fakes", "--salesforce-port", "0",
                             "--zendesk-port", "0", "--people", "10"], stdout=subprocess.PIPE, text=True)
    try:
        export, _, *entries = [proc.stdout.readline() for _ in range(4)]
        env = dict(item.split("=", 1) for item in export.split()[2:])
        api_project.manifest("".join(e.rstrip().removesuffix("}") + f", schema: {api_project.schema}}}\n"
                                     for e in entries))
        done = api_project.cli("--json", env=env)
    finally:
        proc.terminate()
        proc.wait(10)
    assert done.returncode == 0, done.stderr
    assert api_project.query("select count(*) from {s}.raw_salesforce_contacts c join {s}.raw_zendesk_users u "
                             "on lower(u.payload->>'email') = lower(c.payload->>'Email')") == [(5,)]
