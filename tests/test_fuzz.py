"""Bad input, generated (hypothesis): the manifest loader, payload building, and SQL identifiers from the
manifest. Each must end in a clear error or a recorded rejection, never a crash or a silent drop.

- Manifest: random YAML documents and mutations of a valid manifest (wrong types, unknown keys, templates
  that raise) load, or raise one ``ConfigError`` naming the file and listing each problem.
- Payloads: rows with unicode, 255/256-character strings, NaN/inf, huge numbers, dates out of range, nested
  objects and odd attribute names build to objects that the emulator's pure validation (``track.process``,
  the rules of braze-api.md) accepts, or to a ``Rejection`` with a reason.
- SQL identifiers: table, column and state schema names with quotes, semicolons and SQL go through a real
  plan and run on PostgreSQL: quoted, never executed, or refused with a clean error; a sentinel table survives.

The webhook endpoint's fuzzing belongs to the sources suite (issue #10 part 3, sources helper).
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from reverse_etl.braze import AttributeSpec, Event, Identifier, Purchase, TrackRow
from reverse_etl.braze.payload import PayloadBuilder, Rejection
from reverse_etl.emulator.store import Store
from reverse_etl.emulator.track import TrackOptions, process
from reverse_etl.errors import ConfigError, RsyncBrazeError
from reverse_etl.manifest import load

from _helpers_reliability import Emu, Project

FUZZ = settings(max_examples=int(os.environ.get("RSYNC_BRAZE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------- manifest
NASTY_TEXT = st.sampled_from([
    "", " ", "{{ env_var() }}", "{{ 1/0 }}", "{{ env_var('RSYNC_FUZZ_UNSET') }}", "{{ env_var('HOME', 1) }}",
    "{{", "{% for x in %}", "{{ x }}", "{{ ''.__class__.__mro__ }}", "{{ env_var(['a']) }}", "\x00", "é" * 300,
    "'; drop table x; --", '"; drop table x; --', "http://example.com", "https://rest.fra-01.braze.eu/path",
    "0 6 * * *", "* * *", "Europe/Paris", "Mars/Olympus", "../../etc/passwd", "$attr", "a.b", "NaN",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from([2 ** 64, -(2 ** 63) - 1, 10 ** 30])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | NASTY_TEXT)
YAML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12) | NASTY_TEXT | st.integers(), inner, max_size=4),
                           max_leaves=20)


def valid_manifest() -> dict:
    return {
        "state_schema": "rsync_state",
        "destinations": {"braze": {
            "endpoint": "http://127.0.0.1:4010", "api_key_env": "BRAZE_API_KEY", "timeout": 10, "workers": 2,
            "rate_limit": {"requests": 100, "period": 1},
            "custom_attributes": {"ltv": {"type": "float", "required": True}, "segment": "string"}}},
        "syncs": [
            {"name": "users", "relation": "analytics.users", "identifier": {"column": "id", "type": "external_id"},
             "mapping": {"email": "email", "ltv": "ltv", "seg": {"attribute": "segment", "sync_on": ["create"]}},
             "schedule": "0 6 * * *", "tags": ["daily"], "on_remove": "unset"},
            {"name": "visits", "relation": "analytics.visits", "object": "events",
             "identifier": {"column": "user_id"}, "event": {"id": "id", "name": "name", "time": "at", "properties": ["p"]}},
        ],
    }


PATHS = [("state_schema",), ("destinations",), ("syncs",), ("timezone",), ("version",), ("unknown_top",),
         ("destinations", "braze"), ("destinations", "braze", "endpoint"), ("destinations", "braze", "api_key_env"),
         ("destinations", "braze", "api_key"), ("destinations", "braze", "timeout"), ("destinations", "braze", "workers"),
         ("destinations", "braze", "rate_limit"), ("destinations", "braze", "rate_limit", "requests"),
         ("destinations", "braze", "rate_limit", "period"), ("destinations", "braze", "custom_attributes"),
         ("destinations", "braze", "custom_attributes", "ltv"), ("destinations", "braze", "custom_attributes", "ltv", "type"),
         ("destinations", "braze", "allow_hosts"), ("destinations", "braze", "owner"),
         ("destinations", "braze", "objects_per_request"), ("syncs", 0), ("syncs", 0, "name"), ("syncs", 0, "relation"),
         ("syncs", 0, "model"), ("syncs", 0, "identifier"), ("syncs", 0, "identifier", "column"),
         ("syncs", 0, "identifier", "type"), ("syncs", 0, "mapping"), ("syncs", 0, "mapping", "email"),
         ("syncs", 0, "mapping", "seg", "sync_on"), ("syncs", 0, "schedule"), ("syncs", 0, "timezone"),
         ("syncs", 0, "tags"), ("syncs", 0, "on_remove"), ("syncs", 0, "max_rejected_share"), ("syncs", 0, "mode"),
         ("syncs", 0, "destination"), ("syncs", 0, "owner"), ("syncs", 1, "event"), ("syncs", 1, "event", "properties"),
         ("syncs", 1, "object"), ("syncs", 1, "on_remove")]


def _set(doc, path, value) -> None:
    *head, last = path
    for part in head:
        doc = doc[part]
    doc[last] = value


def _write(text: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-manifest-"))
    path = folder / "rsync_braze.yml"
    path.write_text(text)
    return path


def _check_load(path: Path) -> None:
    """The manifest loads, or one ConfigError names the file and lists its problems; nothing else escapes."""
    try:
        manifest = load(path)
    except ConfigError as exc:
        message = str(exc)
        assert str(path) in message and message.strip()
        assert "Traceback" not in message
        if "problem(s):" in message:
            head, *items = message.split("\n  - ")  # a key may itself hold a line break
            count = int(head.rsplit(" has ", 1)[1].split()[0])
            assert count == len(items) and all(item.strip() for item in items), message
        return
    for dest in manifest.destinations.values():  # what loads is typed as the engine expects
        assert isinstance(dest.rate_limit_requests, int) and isinstance(dest.timeout, float)
        assert isinstance(dest.endpoint, str) and isinstance(dest.workers, int)
    for sync in manifest.syncs.values():
        assert all(isinstance(m.column, str) and isinstance(m.attribute, str) for m in sync.mapping)


@FUZZ
@given(st.data())
def test_manifest_mutations_load_or_raise_one_config_error(data):
    doc = valid_manifest()
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(PATHS))
        try:
            _set(doc, path, data.draw(YAML_VALUES))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation replaced a parent: the document is wrong another way
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    _check_load(_write(text))


@FUZZ
@given(YAML_VALUES)
def test_any_yaml_document_loads_or_raises_one_config_error(doc):
    _check_load(_write(yaml.safe_dump(doc, allow_unicode=True)))


@FUZZ
@given(st.text(max_size=300))
@example("destinations: {braze: {endpoint: '{{ 1/0 }}'}}\nsyncs: []")
@example("destinations: {braze: {endpoint: '{{ env_var() }}'}}\nsyncs: []")
@example("destinations:\n  braze: {rate_limit: {requests: many}}\nsyncs: []")
@example("destinations: {b: {endpoint: 'http://127.0.0.1', api_key_env: K}}\nsyncs: [{name: s, relation: a.b, "
         "identifier: {column: i}, mapping: {c: [1]}}]")
@example("{: [")
def test_any_text_loads_or_raises_one_config_error(text):
    _check_load(_write(text))


# ---------------------------------------------------------------------------------------------- payloads
SCHEMA = {"s": "string", "i": "integer", "f": "float", "b": "boolean", "t": "time", "a": "array", "o": "object",
          "m": AttributeSpec("object", merge=True)}
BUILDER = PayloadBuilder(SCHEMA)
EDGE_STRINGS = (st.text(min_size=254, max_size=256) | st.text(max_size=20)
                | st.sampled_from(["", "😀" * 255, "😀" * 256, "a\x00b", "'; drop table x; --", "\ud7ff", "é" * 256]))
HUGE = st.sampled_from([2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 10 ** 30, -(10 ** 30)])
DECIMALS = st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [Decimal("NaN"), Decimal("Infinity"), Decimal("1e400"), Decimal("-1e-400"), Decimal("123456789012345678901234567890")])
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), None])
DATETIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=ZONES) | \
    st.sampled_from([datetime.min, datetime.max, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
                     datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), datetime(3000, 12, 31, 23, 59)])
DATES = st.dates() | st.sampled_from([date.min, date.max, date(3000, 12, 31), date(3001, 1, 1)])
KEYS = st.text(max_size=8) | st.sampled_from(["a.b", "$x", "with space", 'q"uote', "", "k" * 256, "ok"])
SCALAR_VALUES = (st.none() | st.booleans() | st.integers() | HUGE | st.floats(allow_nan=True, allow_infinity=True)
                 | DECIMALS | EDGE_STRINGS | DATETIMES | DATES)
VALUES = st.recursive(SCALAR_VALUES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
NAMES = (st.sampled_from(list(SCHEMA) + ["email", "phone", "country", "language", "gender", "dob", "time_zone",
                                         "first_name", "email_subscribe", "push_subscribe", "current_location",
                                         "subscription_groups", "date_of_first_session", "external_id", "braze_id",
                                         "email_subscription_info", "bio"])
         | st.text(max_size=10) | st.sampled_from(['na"me', "col'; drop table x; --", "$reserved", "x" * 255, "x" * 256]))
IDENTIFIERS = st.builds(Identifier, st.sampled_from(["external_id", "email", "phone", "user_alias"]),
                        EDGE_STRINGS | st.emails(), st.sampled_from(["crm", "", None]))
EVENTS = st.builds(Event, EDGE_STRINGS, DATETIMES | DATES | EDGE_STRINGS,
                   st.none() | st.dictionaries(KEYS | st.sampled_from(["time", "event_name"]), VALUES, max_size=3))
PURCHASES = st.builds(Purchase, EDGE_STRINGS, st.sampled_from(["EUR", "usd", "EURO", "", "€€€"]) | EDGE_STRINGS,
                      st.floats(allow_nan=True, allow_infinity=True) | st.integers() | HUGE | DECIMALS,
                      DATETIMES | DATES, st.integers(-5, 105) | HUGE,
                      st.none() | st.dictionaries(KEYS | st.sampled_from(["price", "quantity"]), VALUES, max_size=2))
ROWS = st.builds(TrackRow, st.integers(), IDENTIFIERS, st.dictionaries(NAMES, VALUES, max_size=5),
                 st.lists(EVENTS, max_size=2), st.lists(PURCHASES, max_size=2), st.just(True))


def _accepted_by_the_emulator(prepared) -> None:
    body = {name: [orjson.loads(obj) for obj in objs] for name, objs in
            (("attributes", prepared.attributes), ("events", prepared.events), ("purchases", prepared.purchases)) if objs}
    result = process(Store(), body, TrackOptions())
    assert result.status == 201 and not result.body.get("errors"), (body, result.body)


@FUZZ
@given(ROWS)
@example(TrackRow(1, Identifier.external_id("u"), {"i": 2 ** 64}))
@example(TrackRow(1, Identifier.external_id("u"), {"undeclared": 2 ** 64}))
@example(TrackRow(1, Identifier.external_id("u"), {"o": {"n": 10 ** 30}}))
@example(TrackRow(1, Identifier.external_id("u"), {"f": Decimal("sNaN")}))
@example(TrackRow(1, Identifier.external_id("u"), {"t": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}))
@example(TrackRow(1, Identifier.external_id("u"), {"s": "x" * 255, "first_name": "é" * 255}))
def test_a_row_builds_to_objects_braze_accepts_or_to_a_rejection_with_a_reason(row):
    built = BUILDER.build(row)
    if isinstance(built, Rejection):
        assert isinstance(built.reason, str) and built.reason.strip() and built.key == row.key
        return
    _accepted_by_the_emulator(built)


@FUZZ
@given(st.dictionaries(NAMES, VALUES, min_size=1, max_size=4))
def test_string_boundaries_and_non_finite_numbers_are_never_sent(attrs):
    """Whatever else the row holds: a string over 255 characters or a NaN/infinite number is never sent."""
    built = BUILDER.build(TrackRow(1, Identifier.external_id("u1"), attrs))
    if isinstance(built, Rejection):
        return
    sent = orjson.loads(built.attributes[0])
    for name, value in attrs.items():
        if isinstance(value, str) and name in sent:
            assert len(value) <= 255
        if isinstance(value, float) and name in sent:
            assert math.isfinite(value)


# ---------------------------------------------------------------------------------------- SQL identifiers
INJECTIONS = ['"; drop table sentinel; --', "x'; drop table sentinel; --", 'we"ird', "a;b", "$1", "sélect", "with space",
              "UPPER", "select", '""', "--", "/* c */", "\\", "tab\there"]
IDENT = st.sampled_from(INJECTIONS) | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00."), min_size=1, max_size=20)


def _pg_name(name: str) -> bool:
    """What PostgreSQL keeps as given (at most 63 bytes) and a manifest relation can name (no outer quote or
    space, which `schema.table` parsing strips)."""
    return 0 < len(name.encode()) <= 63 and name == name.strip().strip('"')


@pytest.fixture(scope="module")
def sql_emu():
    from reverse_etl.emulator import EmulatorConfig, start_emulator

    with start_emulator(EmulatorConfig(api_key=SQL_KEY, rate_limit_requests=None)) as handle:
        yield Emu(handle.url)


SQL_KEY = "fuzz-sql-key-3b7d"


class _Names:
    """A table with configuration-chosen names in the test's schema, and a sentinel table beside it."""

    def __init__(self, db, schema: str, table: str, id_col: str, col: str):
        self.db, self.schema, self.table, self.id_col, self.col = db, schema, table, id_col, col
        db.execute(sql.SQL("create table if not exists {}.sentinel (x int)").format(sql.Identifier(schema)))
        db.execute(sql.SQL("insert into {}.sentinel values (1)").format(sql.Identifier(schema)))
        db.execute(sql.SQL("create table {} ({} text, {} text)").format(
            sql.Identifier(schema, table), sql.Identifier(id_col), sql.Identifier(col)))
        db.execute(sql.SQL("insert into {} values ('u1', 'Ann'), ('u2', 'Bob')").format(sql.Identifier(schema, table)))

    def sentinel_intact(self) -> bool:
        return self.db.execute(sql.SQL("select count(*) from {}.sentinel").format(
            sql.Identifier(self.schema))).fetchone()[0] >= 1

    def manifest(self, tmp: Path, endpoint: str, state: str) -> Path:
        doc = {"state_schema": state,
               "destinations": {"braze": {"endpoint": endpoint, "api_key_env": "FUZZ_SQL_KEY"}},
               "syncs": [{"name": "odd", "relation": f"{self.schema}.{self.table}",
                          "identifier": {"column": self.id_col, "type": "external_id"},
                          "mapping": {self.col: "first_name"}}]}
        path = tmp / "rsync_braze.yml"
        # Escaped: written raw, a name holding U+0085 (a YAML line break) would come back as a space.
        path.write_text(yaml.safe_dump(doc, allow_unicode=False))
        return path


def _profiles_yml(tmp: Path, port: int) -> None:
    (tmp / "profiles.yml").write_text(
        "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
        f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
        "      schema: public\n      threads: 1\n")


@pytest.mark.db
@settings(FUZZ, max_examples=int(os.environ.get("RSYNC_BRAZE_FUZZ_SQL_EXAMPLES", "25")))
@given(table=IDENT, id_col=IDENT, col=IDENT, state=IDENT)
@example(table='"; drop table sentinel; --', id_col="id'; drop table sentinel; --", col='na"me', state='st"ate; --')
def test_identifiers_from_the_manifest_are_quoted_in_plans(embedded_warehouse, db, schema, monkeypatch,
                                                           table, id_col, col, state):
    """A plan over a table whose names hold quotes, semicolons or SQL reads the two rows; the sentinel
    table survives; a name the manifest cannot express is refused with a clean error."""
    from reverse_etl.engine import Engine, select_syncs
    from reverse_etl.profiles import resolve

    assume(id_col != col and _pg_name(id_col) and _pg_name(col) and 0 < len(state.encode()) <= 50)
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-sql-"))
    _profiles_yml(tmp, embedded_warehouse.status().port)
    monkeypatch.setenv("FUZZ_SQL_KEY", SQL_KEY)
    table = f"{table}_{uuid.uuid4().hex[:6]}" if len(table.encode()) <= 50 else table
    names = _Names(db, schema, table, id_col, col)
    try:
        manifest = load(names.manifest(tmp, "http://127.0.0.1:9", f"{state}_{uuid.uuid4().hex[:4]}"))
        engine = Engine(manifest, resolve(tmp, str(tmp)), tmp)
        result = engine.plan(select_syncs(manifest, ())[0])
    except RsyncBrazeError as exc:
        if "%" in state and "state_schema" in str(exc):
            return  # refused at validation (test_a_percent_sign_in_the_state_schema_is_quoted_or_refused)
        assert not _pg_name(table), f"a name PostgreSQL keeps must plan: {exc}"
        assert "\n" not in str(exc).strip() or "problem(s)" in str(exc)
    else:
        assert result.counts["created"] == 2 and result.fields_changed == {"first_name": 2}
    finally:
        db.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(schema, table)))
        db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(manifest.state_schema))) \
            if "manifest" in locals() else None
    assert names.sentinel_intact()


@pytest.mark.db
def test_a_table_named_with_quotes_and_sql_syncs_and_the_sentinel_survives(embedded_warehouse, db, schema, tmp_path,
                                                                           sql_emu):
    """The real run over HTTP: both rows reach Braze with their values, twice run sends nothing new."""
    sql_emu.reset()
    names = _Names(db, schema, 'users"; drop table sentinel; --', 'id"; drop table sentinel; --', "first 'name'")
    _profiles_yml(tmp_path, embedded_warehouse.status().port)
    state = 'state"; drop table sentinel; --'
    names.manifest(tmp_path, sql_emu.url, state)
    project = Project.__new__(Project)  # only the CLI helpers: the tables are the ones above
    project.tmp, project.key = tmp_path, SQL_KEY
    try:
        first = project.cli("run", "--json", FUZZ_SQL_KEY=SQL_KEY)
        assert first.returncode == 0, first.stderr
        got = sql_emu.profiles()
        assert {k: v.get("first_name") for k, v in got.items()} == {"u1": "Ann", "u2": "Bob"}
        second = project.cli("run", "--json", FUZZ_SQL_KEY=SQL_KEY)
        assert second.returncode == 0 and orjson.loads(second.stdout)["counts"].get("created", 0) == 0
        assert names.sentinel_intact()
        assert db.execute("select count(*) from information_schema.schemata where schema_name = %s",
                          (state,)).fetchone()[0] == 1, "the state schema has the configured name, verbatim"
    finally:
        db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(state)))


@pytest.mark.db
def test_a_percent_sign_in_the_state_schema_is_quoted_or_refused(embedded_warehouse, db, schema, monkeypatch):
    """psycopg reads a % inside a composed identifier as a placeholder when values are bound: refused early."""
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-sql-"))
    _profiles_yml(tmp, embedded_warehouse.status().port)
    monkeypatch.setenv("FUZZ_SQL_KEY", SQL_KEY)
    names = _Names(db, schema, "users", "id", "name")
    state = f"state_100%_{uuid.uuid4().hex[:4]}"
    with pytest.raises(ConfigError, match=r"state_schema.*'%'.*without it"):
        load(names.manifest(tmp, "http://127.0.0.1:9", state))
    assert names.sentinel_intact()
