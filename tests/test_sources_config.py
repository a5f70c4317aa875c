"""The `sources:` section of the manifest: validated completely before any I/O, secrets by variable name only."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.sources.config import parse_sources
from reverse_etl.sources.schema import reference_markdown

REPO = Path(__file__).resolve().parents[1]


class Problems:
    def __init__(self):
        self.items: list[str] = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def check(sources: dict) -> tuple[dict, list[str]]:
    problems = Problems()
    return parse_sources(sources, problems), problems.items


CSV_LOCAL = {"type": "files", "format": "csv", "directory": "landing", "glob": "contacts_*.csv"}


def test_minimal_files_source_gets_defaults():
    parsed, problems = check({"contacts": CSV_LOCAL})
    assert problems == []
    src = parsed["contacts"]
    assert (src.schema, src.table, src.delimiter, src.encoding, src.header) == (
        "raw", "raw_contacts", ",", "utf-8", True)
    assert src.name_pattern.fullmatch("contacts_2026.csv") and not src.name_pattern.fullmatch("contacts_2026.csv.bak")
    assert not src.name_pattern.fullmatch("sub/contacts_1.csv")


def test_glob_date_placeholder_and_since():
    parsed, problems = check({"c": {**CSV_LOCAL, "glob": "contacts_{date}.csv", "date_format": "%Y%m%d",
                                    "since": "2026-02-01"}})
    assert problems == []
    m = parsed["c"].name_pattern.fullmatch("contacts_20260315.csv")
    assert m and m.group("date") == "20260315"
    assert not parsed["c"].name_pattern.fullmatch("contacts_2026031.csv")
    assert parsed["c"].since == dt.date(2026, 2, 1)


def test_selection_orders_by_name_date_and_leaves_recent_files():
    from reverse_etl.sources.files import selected
    from reverse_etl.sources.locations import FileEntry

    parsed, problems = check({"c": {**CSV_LOCAL, "glob": "c_{date}.csv", "date_format": "%Y%m%d",
                                    "since": "2026-01-02", "min_age_seconds": 60}})
    assert problems == []
    entries = [FileEntry(n, n, 1, mtime) for n, mtime in (
        ("c_20260105.csv", 1000.0), ("c_20260103.csv", 1000.0), ("c_20260101.csv", 1000.0),
        ("c_20261301.csv", 1000.0), ("c_20260104.csv", 1990.0), ("other.csv", 1000.0))]
    got = selected(entries, parsed["c"], now=2000.0)
    assert [(day.isoformat(), e.name) for day, e in got] == [
        ("2026-01-03", "c_20260103.csv"), ("2026-01-05", "c_20260105.csv")]


def test_regex_with_date_group():
    parsed, problems = check({"c": {**CSV_LOCAL, "glob": None, "regex": r"export-(?P<date>\d{4}-\d{2}-\d{2})\.jsonl",
                                    "date_format": "%Y-%m-%d", "format": "jsonl"}})
    assert problems == []
    assert parsed["c"].name_pattern.fullmatch("export-2026-01-02.jsonl")


@pytest.mark.parametrize("body, where, words", [
    ({**CSV_LOCAL, "directory": None}, "sources.c", "exactly one of `directory`"),
    ({**CSV_LOCAL, "glob": None}, "sources.c", "exactly one of `glob`"),
    ({**CSV_LOCAL, "glob": "c_{date}.csv"}, "sources.c.date_format", "%Y%m%d"),
    ({**CSV_LOCAL, "date_format": "%Y"}, "sources.c.glob", "{date}"),
    ({**CSV_LOCAL, "glob": None, "regex": "c_(\\d+).csv", "date_format": "%Y"}, "sources.c.regex", "(?P<date>"),
    ({**CSV_LOCAL, "glob": None, "regex": "c_(.csv"}, "sources.c.regex", "not a valid regular expression"),
    ({**CSV_LOCAL, "date_format": "%Y%b", "glob": "c{date}"}, "sources.c.date_format", "%b"),
    ({**CSV_LOCAL, "delimiter": ";;"}, "sources.c.delimiter", "one character"),
    ({**CSV_LOCAL, "encoding": "klingon"}, "sources.c.encoding", "not a known encoding"),
    ({**CSV_LOCAL, "encoding": "utf-16"}, "sources.c.encoding", "line by line"),
    ({**CSV_LOCAL, "header": False}, "sources.c.columns", "name the columns"),
    ({**CSV_LOCAL, "since": "2026-01-01"}, "sources.c.since", "date_format"),
    ({**CSV_LOCAL, "format": "xml"}, "sources.c.format", "csv, json, jsonl"),
    ({**CSV_LOCAL, "delimeter": ";"}, "sources.c.delimeter", "Did you mean 'delimiter'"),
    ({**CSV_LOCAL, "table": "Raw Contacts"}, "sources.c.table", "lower case"),
    ({**CSV_LOCAL, "directory": None, "sftp": {"host": "h", "username": "u"}}, "sources.c.sftp", "password_env"),
    ({**CSV_LOCAL, "directory": None, "sftp": {"host": "h", "username": "u", "password_env": "MY-PW"}},
     "sources.c.sftp.password_env", "not an environment variable name"),
    ({**CSV_LOCAL, "directory": None, "sftp": {"username": "u", "password_env": "PW"}}, "sources.c.sftp.host",
     "required"),
    ({"type": "webhook", "auth": "hmac"}, "sources.c.secret_env", "required"),
    ({"type": "webhook", "auth": "basic", "secret_env": "S"}, "sources.c.auth", "hmac, bearer"),
    ({"type": "webhook", "auth": "hmac", "secret_env": "S", "signature_header": "X Sig"},
     "sources.c.signature_header", "header name"),
    ({"type": "webhook", "auth": "hmac", "secret_env": "S", "format": "csv"}, "sources.c.format", "unknown key"),
    ({"type": "kafka"}, "sources.c.type", "files, webhook"),
])
def test_each_problem_names_the_key_and_the_fix(body, where, words):
    parsed, problems = check({"c": body})
    assert "c" not in parsed
    assert any(p.startswith(where + ":") and words in p for p in problems), problems


def test_two_sources_cannot_share_a_raw_table():
    _, problems = check({"a": CSV_LOCAL, "b": {**CSV_LOCAL, "table": "raw_a"}})
    assert problems == ["sources.b.table: raw.raw_a is already the raw table of source 'a': give each source its "
                        "own table."]


def test_secrets_in_the_manifest_are_refused_without_echoing_them():
    body = {**CSV_LOCAL, "directory": None,
            "sftp": {"host": "h", "username": "u", "password": "hunter2-secret", "private_key": "/k"}}
    hook = {"type": "webhook", "auth": "bearer", "secret_env": "T", "token": "tok-value-123"}
    _, problems = check({"c": body, "h": hook})
    text = "\n".join(problems)
    assert "sources.c.sftp.password: secrets never go in the manifest" in text and "password_env" in text
    assert "sources.h.token:" in text
    assert "hunter2-secret" not in text and "tok-value-123" not in text


def test_every_problem_is_reported_at_once_by_the_manifest(tmp_path):
    path = tmp_path / "rsync_braze.yml"
    path.write_text(textwrap.dedent("""
        destinations:
          braze: {endpoint: "http://127.0.0.1:4010", api_key_env: K}
        syncs:
          - {name: s, relation: a.b, identifier: {column: id}}
        sources:
          good: {type: files, format: jsonl, directory: in, glob: "*.jsonl"}
          files_bad: {type: files, format: csv, directory: in}
          hook_bad: {type: webhook, auth: hmac, secret_env: "not a name"}
    """))
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "2 problem(s)" in message
    assert "sources.files_bad: give exactly one of `glob`" in message
    assert "sources.hook_bad.secret_env" in message


def test_manifest_carries_the_parsed_sources(tmp_path):
    path = tmp_path / "rsync_braze.yml"
    path.write_text(textwrap.dedent("""
        destinations:
          braze: {endpoint: "http://127.0.0.1:4010", api_key_env: K}
        syncs:
          - {name: s, relation: a.b, identifier: {column: id}}
        sources:
          shop_hooks: {type: webhook, auth: hmac, secret_env: SHOP_SECRET, idempotency_field: event_id}
          contacts: {type: files, format: csv, delimiter: ";", glob: "*.csv",
                     directory: "{{ env_var('LANDING', 'in') }}"}
    """))
    manifest = load(path)
    assert manifest.sources["shop_hooks"].idempotency_field == "event_id"
    assert manifest.sources["shop_hooks"].table == "raw_shop_hooks"
    assert manifest.sources["contacts"].directory == "in" and manifest.sources["contacts"].delimiter == ";"


def test_docs_embed_the_generated_reference():
    doc = (REPO / "docs" / "sources.md").read_text()
    start = doc.index("<!-- sources-reference:start -->\n") + len("<!-- sources-reference:start -->\n")
    end = doc.index("<!-- sources-reference:end -->")
    assert doc[start:end] == reference_markdown(), "regenerate docs/sources.md reference from sources/schema.py"
    assert re.search(r"\| `secret_env` \| str \| required \|", doc)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.none() | st.booleans() | st.integers(-5, 70_000) | st.floats(allow_nan=True) | st.text(max_size=12) \
    | st.sampled_from(["files", "webhook", "csv", "json", "jsonl", "hmac", "bearer", "*.csv", "c_{date}.csv", "%Y%m%d",
                       "(?P<date>\\d+)", "2026-01-01", "X_ENV", "latin-1", ";", "\\t"])
_keys = st.sampled_from(["type", "format", "directory", "glob", "regex", "date_format", "since", "delimiter", "quote",
                         "encoding", "header", "columns", "sftp", "host", "port", "username", "password_env",
                         "private_key", "auth", "secret_env", "table", "schema", "max_body_bytes", "password",
                         "idempotency_field", "min_age_seconds", "durable_commit"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=6),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8) | st.sampled_from(["a", "b_2"]), st.dictionaries(_keys, _values, max_size=8)
                       | _values, max_size=3))
def test_any_sources_mapping_gives_configs_or_problems_never_a_crash(sources):
    parsed, problems = check(sources)
    assert all(isinstance(p, str) and ": " in p for p in problems)
    assert set(parsed) <= set(sources)


def test_the_readme_settings_example_is_a_valid_manifest(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Sources: files, webhooks"):]
    example = section[section.index("```yaml\n") + 8:section.index("```", section.index("```yaml\n") + 8)]
    path = tmp_path / "rsync_braze.yml"
    path.write_text("destinations:\n  braze: {endpoint: 'http://127.0.0.1:4010', api_key_env: K}\n"
                    "syncs:\n  - {name: s, relation: a.b, identifier: {column: id}}\n" + example)
    sources = load(path).sources
    assert {s.type for s in sources.values()} == {"files", "webhook", "salesforce", "zendesk"}


def test_schedules_of_sources_are_cron_or_manual_and_never_on_webhooks():
    out, problems = check({"a": {**CSV_LOCAL, "schedule": "*/15 * * * *", "timezone": "Europe/Paris"},
                           "b": CSV_LOCAL | {"glob": "b_*.csv"}})
    assert problems == []
    assert (out["a"].schedule, out["a"].timezone) == ("*/15 * * * *", "Europe/Paris")
    assert (out["b"].schedule, out["b"].timezone) == ("manual", "UTC")
    _, problems = check({"a": {**CSV_LOCAL, "schedule": "realtime"},
                         "h": {"type": "webhook", "auth": "hmac", "secret_env": "S", "schedule": "0 6 * * *"},
                         "c": {**CSV_LOCAL, "glob": "c_*.csv", "schedule": "every day"},
                         "z": {**CSV_LOCAL, "glob": "z_*.csv", "schedule": "0 6 * * *", "timezone": "Mars/Olympus"}})
    text = "\n".join(problems)
    assert "sources.a.schedule: a source's schedule is manual or a cron expression" in text
    assert "sources.h.schedule: a source's schedule is manual or a cron expression; webhook sources take no" in text
    assert "sources.c.schedule: must be manual, realtime, or a 5-field cron expression" in text
    assert "sources.z.timezone" in text
