"""The sample sources generator: contract tables, determinism, messiness, ground truth, files, later days."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from reverse_etl.cli import cli
from reverse_etl.demo_data import DemoOptions, generate
from reverse_etl.demo_data.days import changed_ids
from reverse_etl.demo_data.ids import IdSpace
from reverse_etl.demo_data import messy
from reverse_etl.demo_data.tables import RAW, TRUTH
from reverse_etl.embedded import free_port
from reverse_etl.errors import ConfigError
from reverse_etl.profiles import ConnectionSpec

PEOPLE = 1500
SOURCES = {  # truth source -> (raw table, expression of its record id)
    "eshop": ("eshop_customers", "customer_id"),
    "crm": ("crm_contacts", "contact_id"),
    "pos": ("pos_transactions", "transaction_id"),
    "file": ("file_contacts", "_file_name || ':' || _line_number"),
    "web": ("web_events", "payload ->> 'event_id'"),
}


# ------------------------------------------------------------------------------------------ fast, no database
def test_changed_ids_are_deterministic_and_about_the_rate():
    first = list(changed_ids(7, 2, 100_000, 0.01))
    assert first == list(changed_ids(7, 2, 100_000, 0.01))
    assert first != list(changed_ids(7, 3, 100_000, 0.01))
    assert 800 < len(first) < 1200
    assert first == sorted(set(first)) and first[-1] < 100_000
    assert list(changed_ids(7, 2, 50, 0.0)) == []
    assert list(changed_ids(7, 2, 50, 1.0)) == list(range(50))


def test_ids_are_unique_and_do_not_reveal_the_person():
    ids = IdSpace(42, 10_000)
    customers = {ids.customer_id(p) for p in range(10_000)} | {ids.customer_id(p, True) for p in range(10_000)}
    assert len(customers) == 20_000
    assert len({ids.contact_id(p) for p in range(10_000)}) == 10_000
    assert len({ids.order_id(d, p, k) for d in (1, 2) for p in range(300) for k in range(20)}) == 12_000
    # Neighbouring persons do not get neighbouring contact ids.
    gaps = {abs(int(ids.contact_id(p + 1)[4:]) - int(ids.contact_id(p)[4:])) for p in range(100)}
    assert min(gaps) > 1000


def test_every_phone_format_keeps_the_same_digits():
    import random

    r = random.Random(1).random
    seen = {messy.phone("+33612345678", r) for _ in range(400)}
    assert {"06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78"} <= seen
    for text in seen:
        digits = re.sub(r"\D", "", text)
        assert digits.endswith("612345678"), text


# ---------------------------------------------------------------------------------------------- with database
def _spec(url: str) -> ConnectionSpec:
    info = conninfo_to_dict(url)
    return ConnectionSpec(type="postgres", host=info["host"], port=int(info["port"]), user=info["user"],
                          dbname=info["dbname"], schema="analytics", profile="rsync_braze", target="test",
                          profiles_path=Path("profiles.yml"))


@pytest.fixture
def spec(warehouse_url):
    return _spec(warehouse_url)


@pytest.fixture
def schemas(db):
    """Factory of unique (raw, truth) schema names, all dropped afterwards."""
    made = []

    def make(label="d"):
        names = (f"raw_{label}_{uuid.uuid4().hex[:8]}", f"truth_{label}_{uuid.uuid4().hex[:8]}")
        made.extend(names)
        return names

    yield make
    for name in made:
        db.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(psycopg.sql.Identifier(name)))


def _generate(spec, schemas, tmp_path, **kwargs):
    raw, truth = schemas()
    options = DemoOptions(files_dir=tmp_path / f"files_{raw}", schema=raw, truth_schema=truth,
                          **{"people": PEOPLE, **kwargs})
    return raw, truth, generate(spec, options)


@pytest.fixture(scope="module")
def day_one(warehouse_url, tmp_path_factory):
    """One day-1 data set shared by the read-only tests of this module (dropped at the end)."""
    raw, truth = f"raw_m_{uuid.uuid4().hex[:8]}", f"truth_m_{uuid.uuid4().hex[:8]}"
    files = tmp_path_factory.mktemp("demo_files")
    summary = generate(_spec(warehouse_url), DemoOptions(files_dir=files, people=PEOPLE, seed=42, schema=raw,
                                                         truth_schema=truth))
    yield raw, truth, files, summary
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for name in (raw, truth):
            conn.execute(f'drop schema "{name}" cascade')


def _one(db, query, *params):
    return db.execute(query, params).fetchone()[0]



@pytest.mark.db
def test_every_table_has_the_contract_columns_and_rows(db, day_one):
    raw, truth, _, summary = day_one
    for schema, tables in ((raw, RAW), (truth, TRUTH)):
        for table, spec in tables.items():
            got = db.execute(
                "select column_name, format_type(atttypid, atttypmod) from information_schema.columns c "
                "join pg_attribute a on a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass "
                " and a.attname = c.column_name "
                "where table_schema = %s and table_name = %s order by ordinal_position", (schema, table)).fetchall()
            expected = [(name, {"int": "integer", "text": "text"}.get(kind, kind)) for name, kind in spec]
            expected = [(n, k.replace("timestamptz", "timestamp with time zone")) for n, k in expected]
            assert got == expected, table
            assert _one(db, f'select count(*) from "{schema}"."{table}"') > 0, table
    assert summary.rows["pos_stores"] == 5  # at least 5 stores, about 50 per 100k people
    # Totals are the sum of their lines.
    assert _one(db, f"""select count(*) from "{raw}".eshop_orders o join (
        select order_id, sum(quantity * unit_price) as total from "{raw}".eshop_order_lines group by 1) l
        using (order_id) where l.total <> o.total_amount""") == 0
    assert _one(db, f'select count(*) from "{raw}".eshop_orders where status not in '
                    "('completed', 'refunded', 'cancelled')") == 0
    # Day 1 is all before the as-of date (never the clock's now()).
    for table, column in (("eshop_orders", "updated_at"), ("eshop_customers", "updated_at"),
                          ("crm_contacts", "updated_at"), ("pos_transactions", "transacted_at")):
        assert str(_one(db, f'select max({column}) from "{raw}"."{table}"')) < "2026-11-01", table
    currencies = {r[0] for r in db.execute(f'select distinct currency from "{raw}".eshop_orders')}
    assert "EUR" in currencies and len(currencies) >= 3


@pytest.mark.db
def test_ground_truth_covers_every_record_and_people_span_sources(db, day_one):
    raw, truth, _, _ = day_one
    for source, (table, key) in SOURCES.items():
        records = _one(db, f'select count(*) from "{raw}"."{table}"')
        assert records == _one(db, f'select count(*) from "{truth}".record_persons where source = %s', source)
        missing = _one(db, f"""select count(*) from "{raw}"."{table}" r left join "{truth}".record_persons t
            on t.source = %s and t.record_id = {key.replace("payload", "r.payload")} where t.person_id is null""",
                       source)
        assert missing == 0, source
    assert _one(db, f'select count(*) from "{truth}".record_persons t left join "{truth}".persons p '
                    "using (person_id) where p.person_id is null") == 0
    assert _one(db, f'select count(*) from "{truth}".persons') == PEOPLE
    spans = dict(db.execute(f"""select n, count(*) from (select person_id, count(distinct source) as n
        from "{truth}".record_persons group by 1) s group by 1""").fetchall())
    assert sum(v for k, v in spans.items() if k >= 2) > PEOPLE * 0.3
    assert spans.get(4, 0) + spans.get(5, 0) > 0


@pytest.mark.db
def test_the_data_is_messy_the_way_real_sources_are(db, day_one):
    raw, truth, _, _ = day_one
    phones = [r[0] for r in db.execute(
        f'select phone from "{raw}".crm_contacts union all select phone from "{raw}".eshop_customers')]
    formats = {
        "national spaced": r"^0[67]( \d\d){4}$", "international spaced": r"^\+33 [67]( \d\d){4}$",
        "00 prefix": r"^0033[67]\d{8}$", "dotted": r"^0[67](\.\d\d){4}$", "foreign": r"^\+(32|41|49|44|1)",
    }
    found = {name for name, rx in formats.items() if any(p and re.match(rx, p) for p in phones)}
    assert len(found) >= 4, found
    assert _one(db, f'select count(*) from "{raw}".eshop_customers where email <> lower(email)') > 0
    assert _one(db, f'select count(*) from "{raw}".crm_contacts where email <> btrim(email)') > 0
    # A placeholder e-mail is shared by records of several unrelated persons.
    assert _one(db, f"""select max(n) from (select count(distinct t.person_id) as n from "{raw}".crm_contacts c
        join "{truth}".record_persons t on t.source = 'crm' and t.record_id = c.contact_id
        where lower(btrim(c.email)) in ('test@test.com', 'a@a.fr', 'noreply@noreply.com', 'xx@xx.com',
        'no-reply@shop.example', 'client@magasin.fr') group by lower(btrim(c.email))) s""") >= 2
    # A store's own phone typed on many receipts of different persons.
    assert _one(db, f"""select max(n) from (select count(distinct t.person_id) as n
        from "{raw}".pos_transactions x
        join "{raw}".pos_stores s on replace(x.phone, ' ', '') = replace(s.phone, ' ', '')
        join "{truth}".record_persons t on t.source = 'pos' and t.record_id = x.transaction_id
        group by s.store_id) m""") >= 5
    # Typos: a name whose letters are those of the true name, in another order.
    assert _one(db, f"""select count(*) from "{raw}".eshop_customers c
        join "{truth}".record_persons t on t.source = 'eshop' and t.record_id = c.customer_id
        join "{truth}".persons p using (person_id)
        where c.first_name <> p.first_name and lower(c.first_name) <> lower(p.first_name)
        and array(select unnest(string_to_array(c.first_name, null)) order by 1)
          = array(select unnest(string_to_array(p.first_name, null)) order by 1)""") > 0
    missing = {r[0] for r in db.execute(f"""select coalesce(v, '<null>') from "{raw}".crm_contacts,
        unnest(array[email, phone, first_name, last_name, postcode]) as v""")}
    assert {"<null>", ""} <= missing and missing & {"N/A", "-", "n/a"}
    loyalty = _one(db, f'select avg((loyalty_card is not null)::int) from "{raw}".pos_transactions')
    assert 0.45 < loyalty < 0.75
    assert _one(db, f"select count(*) from \"{raw}\".crm_contacts where loyalty_card !~ '^LC[0-9]{{10}}$'") == 0
    # A second e-shop account of the same person under another customer id.
    assert _one(db, f"""select count(*) from (select person_id from "{truth}".record_persons where source = 'eshop'
        group by 1 having count(*) > 1) s""") > 0


@pytest.mark.db
def test_files_are_written_then_loaded_with_their_line_numbers(db, day_one):
    raw, _, files, summary = day_one
    csv_path, jsonl_path = files / "contacts_20261101.csv", files / "web_events_20261101.jsonl"
    assert summary.files == [str(csv_path), str(jsonl_path)]
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "email;phone;first_name;last_name;country;signup_date"
    rows = db.execute(f'select _file_name, _line_number, email, phone, first_name, last_name, country, '
                      f'signup_date from "{raw}".file_contacts order by _line_number').fetchall()
    assert len(rows) == len(lines) - 1
    for name, number, *values in rows[:50]:
        assert name == csv_path.name and lines[number - 1] == ";".join(values)
    countries = {r[6] for r in rows}
    assert {"France", "FR"} <= countries and len(countries) >= 6
    assert any(re.match(r"^\d\d/\d\d/\d{4}$", r[7]) for r in rows)
    events = jsonl_path.read_text(encoding="utf-8").splitlines()
    assert _one(db, f'select count(*) from "{raw}".web_events') == len(events)
    number, payload = db.execute(f'select _line_number, payload from "{raw}".web_events '
                                 "where payload ->> 'event_type' = 'login' limit 1").fetchone()
    assert json.loads(events[number - 1]) == payload and payload["customer_id"].startswith("C")
    kinds = {r[0] for r in db.execute(f"select distinct payload ->> 'event_type' from \"{raw}\".web_events")}
    assert kinds == {"page_view", "product_view", "add_to_cart", "search", "login", "newsletter_signup"}
    assert _one(db, f"select count(*) from \"{raw}\".web_events where payload ->> 'event_type' = "
                    "'newsletter_signup' and payload ->> 'email' is null") == 0
    assert _one(db, f"select count(*) from \"{raw}\".web_events where payload ->> 'occurred_at' !~ "
                    r"'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$'") == 0


def _fingerprint(db, raw, truth):
    out = {}
    for schema, tables in ((raw, RAW), (truth, TRUTH)):
        for table in tables:
            out[table] = _one(db, f'select md5(coalesce(string_agg(t::text, \'|\' order by t::text), \'\')) '
                                  f'from "{schema}"."{table}" t')
    return out


@pytest.mark.db
def test_same_seed_same_rows_other_seed_other_rows(db, spec, schemas, tmp_path, day_one):
    raw1, truth1, *_ = day_one
    # Two worker processes write the same rows (and the same files) as one.
    raw2, truth2, summary = _generate(spec, schemas, tmp_path, seed=42, jobs=2)
    assert Path(summary.files[0]).read_bytes() == (day_one[2] / "contacts_20261101.csv").read_bytes()
    assert Path(summary.files[1]).read_bytes() == (day_one[2] / "web_events_20261101.jsonl").read_bytes()
    raw3, truth3, _ = _generate(spec, schemas, tmp_path, seed=43)
    same, other = _fingerprint(db, raw1, truth1), _fingerprint(db, raw2, truth2)
    assert same == other
    different = _fingerprint(db, raw3, truth3)
    changed = [t for t in same if t not in ("demo_runs", "pos_stores") and same[t] != different[t]]
    assert len(changed) == len(same) - 2


@pytest.mark.db
def test_later_days_change_a_bounded_share_and_add_late_rows(db, spec, schemas, tmp_path):
    raw, truth, _ = _generate(spec, schemas, tmp_path, seed=5)
    before = {t: _one(db, f'select count(*) from "{raw}"."{t}"') for t in RAW}
    max_ordered = _one(db, f'select max(ordered_at) from "{raw}".eshop_orders')
    old = db.execute(f'select customer_id, email, first_name, updated_at from "{raw}".eshop_customers').fetchall()
    options = DemoOptions(files_dir=tmp_path / f"files_{raw}", schema=raw, truth_schema=truth, day=2,
                          change_rate=0.04)
    summary = generate(spec, options)
    assert summary.people == PEOPLE and summary.seed == 5  # taken from day 1
    now = dict((r[0], r[1:]) for r in db.execute(
        f'select customer_id, email, first_name, updated_at from "{raw}".eshop_customers'))
    changed = [c for c, *values in old if now[c] != tuple(values)]
    assert 0 < len(changed) <= PEOPLE * 0.04 * 2
    assert summary.updated["eshop_customers"] == len(changed) and summary.updated["crm_contacts"] > 0
    assert all(now[c][2] >= max_ordered for c in changed)  # updated_at bumped into day 2
    late = _one(db, f'select count(*) from "{raw}".eshop_orders where updated_at > %s and ordered_at < %s',
                max_ordered, max_ordered)
    assert late > 0
    for table in ("eshop_orders", "pos_transactions", "file_contacts", "web_events"):
        added = _one(db, f'select count(*) from "{raw}"."{table}"') - before[table]
        assert 0 < added <= before[table] * 0.2, table
    assert _one(db, f'select count(*) from "{truth}".persons') > PEOPLE  # a few new persons
    assert (tmp_path / f"files_{raw}" / "contacts_20261102.csv").exists()
    for source, (table, _) in SOURCES.items():
        assert _one(db, f'select count(*) from "{raw}"."{table}"') == _one(
            db, f'select count(*) from "{truth}".record_persons where source = %s', source)
    generate(spec, DemoOptions(files_dir=options.files_dir, schema=raw, truth_schema=truth, day=3))
    assert _one(db, f'select max(day) from "{truth}".demo_runs') == 3
    with pytest.raises(ConfigError, match="last day applied is 3"):
        generate(spec, DemoOptions(files_dir=options.files_dir, schema=raw, truth_schema=truth, day=3))
    with pytest.raises(ConfigError, match="--seed 6 differs"):
        generate(spec, DemoOptions(files_dir=options.files_dir, schema=raw, truth_schema=truth, day=4, seed=6))


@pytest.mark.db
def test_schema_names_with_quotes_are_quoted(db, spec, schemas, tmp_path):
    raw, truth = schemas()
    raw, truth = raw + '"; drop table x; --', truth + " It's"
    schemas_made = (raw, truth)
    try:
        summary = generate(spec, DemoOptions(files_dir=tmp_path, people=50, schema=raw, truth_schema=truth))
        assert summary.rows["persons"] == 50
        assert _one(db, "select count(*) from information_schema.tables where table_schema = %s", raw) == len(RAW)
    finally:
        for name in schemas_made:
            db.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(psycopg.sql.Identifier(name)))


def test_bad_options_are_refused_before_any_io(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["demo-data", "--people", "0", "--profiles-dir", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "--people must be" in str(result.exception)
    with pytest.raises(ConfigError, match="must differ"):
        generate(None, DemoOptions(files_dir=tmp_path, schema="same", truth_schema="same"))
    with pytest.raises(ConfigError, match="--change-rate"):
        generate(None, DemoOptions(files_dir=tmp_path, change_rate=2))
    result = runner.invoke(cli, ["demo-data", "--as-of", "yesterday", "--profiles-dir", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "--as-of" in str(result.exception)


def _profiles(tmp_path, port):
    (tmp_path / "profiles.yml").write_text(
        "rsync_braze:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: 127.0.0.1\n"
        f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
        "      schema: analytics\n      threads: 1\n")
    return tmp_path


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "reverse_etl", "demo-data", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "DBT_PROFILES_DIR": ""})


def test_unreachable_warehouse_is_one_clear_line(tmp_path):
    result = _cli("--people", "10", "--profiles-dir", str(_profiles(tmp_path, free_port())), cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith("Error: Cannot reach the warehouse") and "Traceback" not in result.stderr


@pytest.mark.db
def test_command_line_prints_a_summary_and_json(db, embedded_warehouse, schemas, tmp_path):
    raw, truth = schemas()
    port = conninfo_to_dict(embedded_warehouse.url())["port"]
    result = _cli("--people", "200", "--seed", "3", "--schema", raw, "--truth-schema", truth, "--json",
                  "--profiles-dir", str(_profiles(tmp_path, port)), "--project-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"]["persons"] == 200 and summary["day"] == 1
    assert "eshop_orders" in result.stderr and "rows" in result.stderr
    assert (tmp_path / ".rsync-braze" / "files" / "contacts_20261101.csv").exists()
    assert _one(db, f'select count(*) from "{raw}".eshop_orders') == summary["rows"]["eshop_orders"]
