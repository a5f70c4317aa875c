"""The scoring models give the same results whether built at once or over two runs.

Day 1 of the sample sources is built; day 2 (new and late-arriving orders and receipts, updated records) is
applied and built *incrementally* on top; then the same sources are built from scratch (``--full-refresh``)
in another schema family. Every scoring table must hold the same rows in both, and the incremental run must
really have been incremental (it inserted only part of the orders). Recency is pinned with
``rsync_braze_metrics_as_of`` so that the two builds count days to the same time.

Before the day-2 builds, three changes are made to the raw data so that the incremental marts (braze_events,
braze_purchases) meet each case they must handle, whatever the generator drew: two persons merged by a new e-shop
account (the e-mail of one, the phone of the other), a store-only person who becomes a user (a CRM contact with
their loyalty card: their old receipts must now be events) and a day-1 order cancelled (its rows must go).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PEOPLE = 1500
# Every scoring table, with the columns left out of the comparison: the snapshot's history differs by design
# (one build saw day 1, the other did not).
TABLES = {
    "intermediate.int_orders_unioned": (),
    "intermediate.int_order_lines_unioned": (),
    "intermediate.int_person_order_metrics": (),
    "intermediate.int_person_rfm": (),
    "intermediate.int_person_churn_risk": (),
    "intermediate.int_person_engagement": (),
    "intermediate.int_person_consent": (),
    "marts.braze_events": (),
    "marts.braze_purchases": (),
    "marts.braze_users": ("previous_rfm_segment", "rfm_segment_changed_at"),
}

pytestmark = [pytest.mark.db, pytest.mark.dbt, pytest.mark.slow]


@pytest.fixture(scope="module")
def builds(embedded_warehouse, tmp_path_factory):
    """Raw data of day 2, built over two runs (schema family inc_*) and at once (full_*)."""
    tmp = tmp_path_factory.mktemp("scores")
    tag = uuid.uuid4().hex[:8]
    raw, truth, inc, full = f"raw_{tag}", f"truth_{tag}", f"inc_{tag}", f"full_{tag}"
    port = embedded_warehouse.status().port
    outputs = "".join(
        f"    {name}:\n      type: postgres\n      host: 127.0.0.1\n      port: {port}\n      user: postgres\n"
        f"      password: ''\n      dbname: rsync_braze\n      schema: {schema}\n      threads: 2\n"
        for name, schema in (("inc", inc), ("full", full)))
    (tmp / "profiles.yml").write_text(f"rsync_braze:\n  target: inc\n  outputs:\n{outputs}")
    env = dict(os.environ, DBT_PROFILES_DIR=str(tmp), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.pop("DBT_TARGET", None)
    variables = json.dumps({"rsync_braze_raw_schema": raw, "rsync_braze_metrics_as_of": "2026-11-02 00:00:00+00"})

    def demo_data(*args: str) -> None:
        result = subprocess.run(
            [str(BIN / "rsync-braze"), "demo-data", "--people", str(PEOPLE), "--seed", "11", "--schema", raw,
             "--truth-schema", truth, "--files-dir", str(tmp / "files"), "--project-dir", str(REPO), *args],
            env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr

    def build(target: str, *args: str) -> dict[str, dict]:
        out = tmp / f"target_{target}"
        result = subprocess.run(
            [str(BIN / "dbt"), "build", "--project-dir", str(REPO), "--target", target, "--target-path", str(out),
             "--log-path", str(tmp / "logs"), "--exclude-resource-type", "test", "--vars", variables, *args],
            env=env, capture_output=True, text=True, timeout=900, cwd=tmp)
        assert result.returncode == 0, result.stdout[-4000:]
        return {r["unique_id"].split(".")[-1]: r for r in json.loads((out / "run_results.json").read_text())["results"]}

    url = embedded_warehouse.url()
    try:
        demo_data()
        build("inc")
        with psycopg.connect(url, autocommit=True) as conn:
            day1_orders = conn.execute(f'select count(*) from "{inc}_intermediate".int_orders_unioned').fetchone()[0]
            conn.execute(f'create schema "{inc}_day1"')
            for mart, key in (("braze_events", "event_id"), ("braze_purchases", "purchase_id")):
                conn.execute(f'create table "{inc}_day1".{mart} as select {key}, external_id, order_id '
                             f'from "{inc}_marts".{mart}')
        demo_data("--day", "2")
        with psycopg.connect(url, autocommit=True) as conn:
            changes = _change_raw_data(conn, raw, inc)
        second = build("inc")
        build("full", "--full-refresh")
        yield {"url": url, "inc": inc, "full": full, "second": second, "day1_orders": day1_orders, **changes}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for family in (inc, full):
                for suffix in ("", "_staging", "_intermediate", "_marts", "_snapshots", "_day1"):
                    conn.execute(f'drop schema if exists "{family}{suffix}" cascade')
            for schema in (raw, truth):
                conn.execute(f'drop schema if exists "{schema}" cascade')


DAY2 = "2026-11-01 12:00:00+00"


def _change_raw_data(conn, raw: str, inc: str) -> dict[str, str]:
    """Day-2 changes that reach rows the day-1 marts already hold: a merge, a new user, a cancellation."""
    built = f'"{inc}_intermediate"'
    # Two persons with purchases, neither with a CRM contact (at most one per person would block the merge).
    email, phone = conn.execute(f"""
        with candidates as (
            select g.person_id, g.email, g.phone_e164
            from {built}.int_customer_golden_records as g
            where g.person_id in (select external_id from "{inc}_marts".braze_purchases)
                and g.person_id not in (select person_id from {built}.int_identity_record_persons where source = 'crm')
        )
        select a.email, b.phone_e164
        from candidates as a
        inner join candidates as b on b.person_id > a.person_id
        where a.email is not null and b.phone_e164 is not null
        order by a.person_id, b.person_id
        limit 1""").fetchone()
    conn.execute(f'insert into "{raw}".eshop_customers (customer_id, email, first_name, last_name, phone, country, '
                 "created_at, updated_at) values ('CINCTEST', %s, 'Merge', 'Test', %s, 'FR', %s, %s)",
                 (email, phone, DAY2, DAY2))
    # A store-only person (a sale with a loyalty card, no customer record): not a user on day 1.
    card = conn.execute(f"""
        select split_part(substr(person_key, 5), '|', 1)
        from {built}.int_orders_persons
        where channel = 'pos' and not is_refund and split_part(substr(person_key, 5), '|', 1) <> ''
            and person_id not in (select person_id from {built}.int_customer_golden_records)
        order by person_id, order_id
        limit 1""").fetchone()[0]
    conn.execute(f'insert into "{raw}".crm_contacts (contact_id, email, first_name, last_name, loyalty_card, '
                 "created_at, updated_at) values ('KINCTEST', 'incremental.test@example.org', 'New', 'User', %s, %s, %s)",
                 (card, DAY2, DAY2))
    # A completed day-1 e-shop order of a user, cancelled on day 2.
    cancelled = conn.execute(f"""
        select order_id from "{inc}_marts".braze_events
        where event_name = 'order_completed' and channel = 'eshop'
            and order_id not in (select order_id from "{inc}_marts".braze_events where event_name = 'order_refunded')
        order by order_id
        limit 1""").fetchone()[0]
    conn.execute(f'update "{raw}".eshop_orders set status = %s, updated_at = %s where order_id = %s',
                 ("cancelled", DAY2, cancelled))
    return {"card": card, "cancelled": cancelled}


def test_second_run_was_incremental(builds):
    with psycopg.connect(builds["url"]) as conn:
        total = conn.execute(f'select count(*) from "{builds["inc"]}_intermediate".int_orders_unioned').fetchone()[0]
    assert total > builds["day1_orders"], "day 2 adds orders"
    for model in ("int_orders_unioned", "int_order_lines_unioned", "braze_events", "braze_purchases"):
        rows = builds["second"][model]["adapter_response"]["rows_affected"]
        assert 0 < rows < total / 5, f"{model}: the second run wrote {rows} rows, not just the day's"


def _one(url: str, query: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


@pytest.mark.parametrize(("mart", "key"), [("braze_events", "event_id"), ("braze_purchases", "purchase_id")])
def test_rows_built_on_day_1_follow_identity_changes(builds, mart, key):
    """Merged persons: day-1 rows now carry the surviving person. A new user: their day-1 receipts appear."""
    day1, now = f'"{builds["inc"]}_day1".{mart}', f'"{builds["inc"]}_marts".{mart}'
    moved = _one(builds["url"], f"select count(*) from {day1} as d inner join {now} as n using ({key}) "
                                "where n.external_id <> d.external_id")
    assert moved > 0, f"{mart}: no day-1 row changed person although two persons merged"
    receipts = (f'select order_id from "{builds["inc"]}_intermediate".int_orders_unioned '
                "where person_key like %s and ordered_at < %s")
    appeared = _one(builds["url"], f"select count(*) from {now} where order_id in ({receipts}) "
                                   f"and {key} not in (select {key} from {day1})", f"pos:{builds['card']}|%", DAY2)
    assert appeared > 0, f"{mart}: the receipts of a person who became a user are missing"


@pytest.mark.parametrize("mart", ["braze_events", "braze_purchases"])
def test_rows_of_an_order_cancelled_later_are_removed(builds, mart):
    day1, now = f'"{builds["inc"]}_day1".{mart}', f'"{builds["inc"]}_marts".{mart}'
    assert _one(builds["url"], f"select count(*) from {day1} where order_id = %s", builds["cancelled"]) > 0
    assert _one(builds["url"], f"select count(*) from {now} where order_id = %s", builds["cancelled"]) == 0
    assert _one(builds["url"], f"select count(*) from {now} where external_id is null") == 0, "tombstones left"


@pytest.mark.parametrize("table", list(TABLES))
def test_two_runs_equal_one(builds, table):
    layer, name = table.split(".")
    inc, full = f'"{builds["inc"]}_{layer}".{name}', f'"{builds["full"]}_{layer}".{name}'
    with psycopg.connect(builds["url"]) as conn:
        columns = [r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position", (f"{builds['full']}_{layer}", name)).fetchall()]
        kept = ", ".join(f'"{c}"' for c in columns if c not in TABLES[table])
        rows = conn.execute(f"select count(*) from {full}").fetchone()[0]
        only_inc = conn.execute(f"select count(*) from (select {kept} from {inc} except all "
                                f"select {kept} from {full}) as d").fetchone()[0]
        only_full = conn.execute(f"select count(*) from (select {kept} from {full} except all "
                                 f"select {kept} from {inc}) as d").fetchone()[0]
    assert rows > 100, f"{table} is nearly empty: the comparison would prove nothing"
    assert (only_inc, only_full) == (0, 0), f"{table}: {only_inc} rows only in the incremental build, {only_full} only in the full one"
