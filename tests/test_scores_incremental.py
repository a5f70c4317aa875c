"""The scoring models give the same results whether built at once or over two runs.

Day 1 of the sample sources is built; day 2 (new and late-arriving orders and receipts, updated records) is
applied and built *incrementally* on top; then the same sources are built from scratch (``--full-refresh``)
in another schema family. Every scoring table must hold the same rows in both, and the incremental run must
really have been incremental (it inserted only part of the orders). Recency is pinned with
``rsync_braze_metrics_as_of`` so that the two builds count days to the same time.
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
        with psycopg.connect(url) as conn:
            day1_orders = conn.execute(f'select count(*) from "{inc}_intermediate".int_orders_unioned').fetchone()[0]
        demo_data("--day", "2")
        second = build("inc")
        build("full", "--full-refresh")
        yield {"url": url, "inc": inc, "full": full, "second": second, "day1_orders": day1_orders}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for family in (inc, full):
                for suffix in ("", "_staging", "_intermediate", "_marts", "_snapshots"):
                    conn.execute(f'drop schema if exists "{family}{suffix}" cascade')
            for schema in (raw, truth):
                conn.execute(f'drop schema if exists "{schema}" cascade')


def test_second_run_was_incremental(builds):
    with psycopg.connect(builds["url"]) as conn:
        total = conn.execute(f'select count(*) from "{builds["inc"]}_intermediate".int_orders_unioned').fetchone()[0]
    assert total > builds["day1_orders"], "day 2 adds orders"
    for model in ("int_orders_unioned", "int_order_lines_unioned"):
        rows = builds["second"][model]["adapter_response"]["rows_affected"]
        assert 0 < rows < total / 5, f"{model}: the second run wrote {rows} rows, not just the day's"


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
