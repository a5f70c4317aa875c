"""Salesforce sources against the real warehouse and a Salesforce fake over real HTTP on loopback.

First load, incremental runs that read only what changed (and re-read harmlessly at the mark), deleted records
flagged through queryAll, a 429/503 storm waited out, failures and a SIGKILL mid-paging resumed from the
high-water mark stored in the warehouse with nothing doubled or missed, session expiry, bad configuration and
secrets kept out of every message and log.
"""

from __future__ import annotations

import logging
import re
import time

import pytest
from _api_sources import ApiProject, api_project, config_problems, kill_after_pages  # noqa: F401 - fixture

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.sources.api_config import SalesforceSourceConfig
from reverse_etl.sources.fakes import FakeSalesforce
from reverse_etl.sources.http import ApiError

pytestmark = pytest.mark.db
SECRET = "sf-consumer-secret-7c1d9e"
ENV = {"TEST_SF_ID": "cid-3MVG9", "TEST_SF_SECRET": SECRET}


@pytest.fixture
def sf(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with FakeSalesforce(client_id=ENV["TEST_SF_ID"], client_secret=SECRET, max_batch=3) as fake:
        yield fake


def source(project: ApiProject, fake: FakeSalesforce, name: str = "sf_contacts", **extra) -> None:
    options = {"type": "salesforce", "schema": project.schema, "object": "Contact", "login_url": fake.url,
               "client_id_env": "TEST_SF_ID", "client_secret_env": "TEST_SF_SECRET", "fields": "[Email, LastName]",
               "overlap_seconds": 0, "max_retries": 2, "backoff_max_seconds": 1, **extra}
    project.manifest(f"{name}:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items() if v is not None))


def contacts(fake: FakeSalesforce, n: int, start: int = 0) -> list[str]:
    return [fake.put("Contact", {"Email": f"user{i}@example.com", "LastName": f"Last{i}"}) for i in
            range(start, start + n)]


def assert_mirrors(project: ApiProject, fake: FakeSalesforce, name: str = "sf_contacts") -> None:
    """The raw table holds exactly the fake's records (deleted ones flagged), each at its latest version."""
    raw = project.raw(name)
    want = fake.records["Contact"]
    assert set(raw) == set(want)
    for rid, (deleted, payload, modified) in raw.items():
        record = want[rid]
        assert (deleted, payload["Email"], payload["LastName"], modified) == (
            record["IsDeleted"], record["Email"], record["LastName"], record["SystemModstamp"])


def test_first_load_then_only_changes_and_deletes_flagged(api_project, sf):
    ids = contacts(sf, 8)
    source(api_project, sf)
    [first] = api_project.ingest()
    assert (first.pages, first.records, first.changed, first.deleted) == (3, 8, 8, 0)  # 3 + 3 + 2 a page
    assert_mirrors(api_project, sf)
    mark = sf.records["Contact"][ids[-1]]["SystemModstamp"]
    assert api_project.cursor("sf_contacts") == mark.isoformat()
    queries = [p for m, p in sf.requests if "/query" in p]
    assert queries[0].endswith("/queryAll") and len(queries) == 3

    sf.put("Contact", {"Id": ids[1], "Email": "changed1@example.com"})
    sf.put("Contact", {"Id": ids[4], "LastName": "Renamed"})
    sf.delete("Contact", ids[6])
    contacts(sf, 1, start=100)
    [second] = api_project.ingest()
    # Read from the stored mark (>=): the record stamped at the mark again, unchanged, plus the 4 changes.
    assert (second.records, second.changed, second.deleted) == (5, 4, 1)
    assert_mirrors(api_project, sf)
    assert api_project.query('select count(*) from {s}."raw_sf_contacts" where _deleted') == [(1,)]

    [third] = api_project.ingest()
    assert (third.records, third.changed) == (1, 0)


def test_all_fields_by_describe_query_without_deleted_and_overlap(api_project, sf):
    ids = contacts(sf, 4)
    sf.delete("Contact", ids[0])
    source(api_project, sf, fields=None, include_deleted="false", overlap_seconds=3600)
    [result] = api_project.ingest()
    raw = api_project.raw("sf_contacts")
    assert set(raw) == set(ids[1:]), "query (not queryAll) never returns deleted records"
    payload = raw[ids[1]][1]
    assert {"Id", "FirstName", "MailingCity", "SystemModstamp", "IsDeleted", "CreatedDate"} <= set(payload)
    assert "Photo__c" not in payload and "attributes" not in payload  # base64 fields read apart; no envelope
    assert any(p.endswith("/sobjects/Contact/describe") for _, p in sf.requests)
    assert all(not p.endswith("/queryAll") for _, p in sf.requests)
    # An hour of overlap re-reads everything: harmless upserts, nothing new.
    [again] = api_project.ingest()
    assert (again.records, again.changed) == (3, 0) and result.changed == 3


def test_rate_limit_storm_is_waited_out(api_project, sf):
    contacts(sf, 7)
    source(api_project, sf, max_retries=6, backoff_max_seconds=5)
    sf.inject(3, status=429, retry_after=1)
    sf.inject(1, status=503, retry_after=1)
    started = time.monotonic()
    [result] = api_project.ingest()
    elapsed = time.monotonic() - started
    assert sf.statuses[429] == 3 and sf.statuses[503] == 1 and result.retries == 4
    assert elapsed >= 3.6, f"Retry-After not honoured: the storm took {elapsed:.2f}s"
    assert result.records == 7
    assert_mirrors(api_project, sf)


def test_storm_longer_than_the_retries_stops_with_the_cursor_kept(api_project, sf):
    contacts(sf, 5)
    source(api_project, sf, max_retries=1)
    sf.inject(2, status=429, retry_after=0)
    with pytest.raises(ApiError) as info:
        api_project.ingest()
    message = str(info.value)
    assert message.startswith("Source 'sf_contacts' (Salesforce Contact): HTTP 429 after 1 retries")
    assert "REQUEST_LIMIT_EXCEEDED" in message and "resumes from the stored cursor" in message
    assert api_project.cursor("sf_contacts") is None
    [result] = api_project.ingest()
    assert result.records == 5
    assert_mirrors(api_project, sf)


def test_failure_mid_paging_resumes_from_the_stored_mark(api_project, sf):
    ids = contacts(sf, 10)
    source(api_project, sf, max_retries=1)
    sf.break_after(2)  # pages 1 and 2 answered, then 500s
    with pytest.raises(ApiError, match=r"HTTP 500 after 1 retries"):
        api_project.ingest()
    landed = api_project.raw("sf_contacts")
    assert set(landed) == set(ids[:6])
    assert api_project.cursor("sf_contacts") == sf.records["Contact"][ids[5]]["SystemModstamp"].isoformat()
    sf.repair()
    sf.put("Contact", {"Id": ids[2], "Email": "moved@example.com"})  # already landed: comes again, later
    sf.put("Contact", {"Id": ids[8], "Email": "late@example.com"})  # not landed yet
    [result] = api_project.ingest()
    assert result.changed == 5  # ids 6, 7, 9 new; 8 new at its new version; 2 changed; 5 re-read unchanged
    assert_mirrors(api_project, sf)


@pytest.mark.slow
def test_sigkill_mid_paging_loses_and_doubles_nothing(api_project, sf):
    ids = contacts(sf, 60)
    source(api_project, sf)
    sf.delay = 0.15  # 20 pages of 3: about 3 s of paging, time to kill the process in the middle
    kill_after_pages(api_project, api_project.popen("sf_contacts", env=ENV), 4)
    landed = api_project.raw("sf_contacts")
    assert 12 <= len(landed) < 60
    # Every record at or before the stored mark is landed; none after it is missing from what was committed.
    mark = api_project.cursor("sf_contacts")
    assert {i for i in ids if sf.records["Contact"][i]["SystemModstamp"].isoformat() <= mark} == set(landed)
    sf.delay = 0
    done = api_project.cli("sf_contacts", env=ENV)
    assert done.returncode == 0, done.stderr
    assert_mirrors(api_project, sf)
    assert api_project.query('select count(*), count(distinct _id) from {s}."raw_sf_contacts"') == [(60, 60)]


def test_expired_session_gets_a_new_token_once(api_project, sf):
    contacts(sf, 4)
    source(api_project, sf)
    sf.inject(1, status=401)
    [result] = api_project.ingest()
    assert sf.token_requests == 2 and result.records == 4


def test_refresh_token_and_password_flows(api_project, monkeypatch):
    monkeypatch.setenv("TEST_SF_ID", "cid")
    monkeypatch.setenv("TEST_SF_REFRESH", "5Aep-refresh")
    monkeypatch.setenv("TEST_SF_PW", "pw+securitytoken")
    monkeypatch.setenv("TEST_SF_SECRET", "sec")
    with FakeSalesforce(client_id="cid", client_secret="sec", refresh_token="5Aep-refresh", username="etl@acme.com",
                        password="pw+securitytoken") as fake:
        contacts(fake, 2)
        source(api_project, fake, auth="refresh_token", client_secret_env=None, refresh_token_env="TEST_SF_REFRESH")
        assert api_project.ingest()[0].records == 2
        source(api_project, fake, name="sf_pw", auth="password", username="etl@acme.com", password_env="TEST_SF_PW")
        assert api_project.ingest("sf_pw")[0].records == 2


def test_bad_credentials_fields_and_missing_variables_are_clear_and_secret_free(api_project, sf, monkeypatch,
                                                                                caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and ours, everything
    contacts(sf, 2)
    source(api_project, sf)
    monkeypatch.setenv("TEST_SF_SECRET", "wrong-" + SECRET)
    with pytest.raises(ApiError) as info:
        api_project.ingest()
    assert str(info.value) == ("Source 'sf_contacts' (Salesforce Contact): HTTP 400 (invalid_client: authentication "
                               "failure); Salesforce refused the client_credentials login at " + sf.url + ": check "
                               "TEST_SF_ID, TEST_SF_SECRET and that the connected app allows this flow.")
    monkeypatch.setenv("TEST_SF_SECRET", SECRET)
    source(api_project, sf, fields="[Email, Shoe_Size__c]")
    with pytest.raises(ApiError, match=r"INVALID_FIELD: No such column 'Shoe_Size__c' on entity 'Contact'.*check "
                                       r"sources.sf_contacts: object, fields and api_version"):
        api_project.ingest()
    monkeypatch.delenv("TEST_SF_SECRET")
    with pytest.raises(ConfigError, match="environment variable TEST_SF_SECRET is not set"):
        api_project.ingest()
    assert SECRET not in caplog.text and "wrong-" not in caplog.text
    assert api_project.query("select count(*) from {st}.source_cursors") == [(0,)]
    # The same through the command line: exit codes, one line, no secret anywhere.
    source(api_project, sf)
    bad = api_project.cli("sf_contacts", env={**ENV, "TEST_SF_SECRET": "wrong-" + SECRET})
    assert bad.returncode == 4 and "refused the client_credentials login" in bad.stderr
    good = api_project.cli("sf_contacts", "--json", env=ENV)
    assert good.returncode == 0, good.stderr
    for text in (bad.stdout, bad.stderr, good.stdout, good.stderr):
        assert SECRET not in text
    assert api_project.query("select count(*) from {st}.source_cursors where cursor like '%%'") == [(1,)]


@pytest.mark.parametrize("body, where, words", [
    ({"object": "Contact", "login_url": "https://acme.my.salesforce.com"}, "client_id_env", "required"),
    ({"object": "Con tact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B"}, "object", "sObject API name"),
    ({"object": "Contact", "login_url": "http://acme.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B"}, "login_url", "must use HTTPS"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A"}, "client_secret_env",
     "required with auth: client_credentials"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "auth": "refresh_token"}, "refresh_token_env", "required with auth: refresh_token"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B", "fields": ["Email; DROP"]}, "fields", "not field API names"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B", "start": "yesterday"}, "start", "ISO 8601"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B", "client_secret": "s3cr3t-value"}, "client_secret", "secrets never go in the manifest"),
    ({"object": "Contact", "login_url": "https://a.my.salesforce.com", "client_id_env": "A",
      "client_secret_env": "B", "page_size": 50}, "page_size", "at least 200"),
])
def test_each_config_problem_names_the_key_and_the_fix(tmp_path, body, where, words):
    message = config_problems(tmp_path, "crm", {"type": "salesforce", **body})
    assert f"sources.crm.{where}: " in message and words in message
    assert "s3cr3t-value" not in message


def test_valid_config_gets_defaults(tmp_path):
    path = tmp_path / "rsync_braze.yml"
    path.write_text("destinations:\n  braze: {endpoint: 'http://127.0.0.1:4010', api_key_env: K}\n"
                    "syncs:\n  - {name: s, relation: a.b, identifier: {column: id}}\n"
                    "sources:\n  crm_leads: {type: salesforce, object: Lead, login_url: 'https://acme.my.salesforce.com/',"
                    " client_id_env: SF_ID, client_secret_env: SF_SECRET, fields: [Email, Company]}\n")
    src = load(path).sources["crm_leads"]
    assert isinstance(src, SalesforceSourceConfig)
    assert (src.table, src.login_url, src.api_version, src.include_deleted, src.overlap_seconds, src.page_size) == (
        "raw_crm_leads", "https://acme.my.salesforce.com", "62.0", True, 300, 2000)
    assert src.fields == ("Id", "SystemModstamp", "IsDeleted", "Email", "Company")


@pytest.mark.dbt
def test_staging_model_normalizes_landed_contacts(api_project, sf):
    from _api_sources import dbt_build

    kept = sf.put("Contact", {"Email": "  Ann.Smith@Example.COM ", "Phone": "06 12 34 56 78", "FirstName": "ann",
                              "LastName": "SMITH"})
    gone = sf.put("Contact", {"Email": "bob@example.com", "LastName": "Martin"})
    sf.delete("Contact", gone)
    source(api_project, sf, fields="[Email, Phone, FirstName, LastName, CreatedDate]")
    api_project.ingest()
    rows = dbt_build(api_project, "stg_salesforce__contacts", {
        "rsync_braze_salesforce_enabled": True, "rsync_braze_salesforce_contacts_table": "raw_sf_contacts"})
    by_id = {r[0]: r for r in rows}
    assert by_id[kept][1:5] == ("ann.smith@example.com", "+33612345678", "Ann", "Smith")
    assert by_id[kept][7] == sf.records["Contact"][kept]["CreatedDate"]
    assert by_id[kept][9] is False and by_id[gone][9] is True


def test_token_answer_naming_a_clear_text_instance_is_refused(api_project, sf):
    contacts(sf, 1)
    source(api_project, sf)
    sf.instance_url = "http://instance.example.com"
    with pytest.raises(ApiError, match=r"non-HTTPS instance_url \(instance.example.com\); check "
                                       r"sources.sf_contacts.login_url"):
        api_project.ingest()
    assert not [p for _, p in sf.requests if p.startswith("/services/data")]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.none() | st.booleans() | st.integers(-5, 5000) | st.text(max_size=10) | st.lists(st.text(max_size=6)) \
    | st.sampled_from(["salesforce", "zendesk", "Contact", "users", "tickets", "https://a.my.salesforce.com",
                       "http://127.0.0.1:1", "ftp://x", "refresh_token", "password", "2026-01-01T00:00:00Z", "A_ENV",
                       "a@b.c", "62.0"])
_keys = st.sampled_from(["type", "object", "fields", "login_url", "auth", "client_id_env", "client_secret_env",
                         "refresh_token_env", "username", "password_env", "api_version", "include_deleted",
                         "overlap_seconds", "start", "page_size", "resource", "url", "email", "api_token_env",
                         "per_page", "max_retries", "backoff_max_seconds", "timeout", "client_secret", "api_token"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=10))
def test_any_api_source_mapping_gives_a_config_or_problems_never_a_crash(body):
    from reverse_etl.sources.config import parse_sources

    class Problems:
        def __init__(self):
            self.items: list[str] = []

        def add(self, where, message):
            self.items.append(f"{where}: {message}")

    problems = Problems()
    parsed = parse_sources({"s": body}, problems)
    assert bool(parsed) != bool(problems.items)  # a config, or the reasons why not
    assert all(p.startswith("sources.s") for p in problems.items)


def test_ingest_without_names_runs_files_and_api_sources_together(api_project, sf):
    contacts(sf, 3)
    source(api_project, sf)
    text = (api_project.tmp / "rsync_braze.yml").read_text()
    (api_project.tmp / "rsync_braze.yml").write_text(
        text + f"  leads_files: {{type: files, format: csv, schema: {api_project.schema}, directory: landing, "
               f"glob: '*.csv'}}\n  hooks: {{type: webhook, auth: bearer, secret_env: UNUSED_HOOK_SECRET}}\n")
    (api_project.landing / "leads.csv").write_text("id,email\n1,a@example.com\n")
    done = api_project.cli(env=ENV)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout  # the webhook source is left to `ingest serve`
    assert re.fullmatch(r"sf_contacts: 3 records read in 1 page\(s\), 3 new or changed, 0 deleted; 0 retried "
                        r"request\(s\); \d+\.\ds", lines[0])
    assert lines[1] == "leads_files: 1 file(s) loaded, 1 rows, 0 rejected; 0 already loaded; 0 changed after loading"
    assert lines[2].startswith("  loaded leads.csv: 1 rows, 0 rejected")
