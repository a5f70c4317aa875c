"""Benchmark: `plan` on a model with 1% changed rows against the bare join of model and snapshot.

Measured in one process run on the same tables, so the figure is a ratio, not a timing. Also reports the
peak RSS of the planning process for two sizes (memory must stay flat with table size).

    .venv/bin/python benchmarks/sync_plan.py --rows 100000 --rows 1000000

It starts its own embedded warehouse in a temporary folder (or uses --url) and drops what it creates.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverse_etl.diff import bare_join_query, diff_query  # noqa: E402
from reverse_etl.embedded import EmbeddedWarehouse, free_port  # noqa: E402
from reverse_etl.engine import Engine, select_syncs  # noqa: E402
from reverse_etl.manifest import load  # noqa: E402
from reverse_etl.profiles import resolve  # noqa: E402

MANIFEST = """
state_schema: bench_state
destinations:
  braze:
    endpoint: http://127.0.0.1:9
    api_key_env: BENCH_UNUSED_KEY
    custom_attributes:
      ltv: float
      orders: integer
      segment: string
      vip: boolean
      last_order_at: time
syncs:
  - name: bench
    relation: bench.users
    identifier: {column: external_id, type: external_id}
    mapping:
      email: email
      first_name: first_name
      last_name: last_name
      country: country
      ltv: ltv
      orders: orders
      segment: segment
      vip: vip
      last_order_at: last_order_at
"""


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(url: str, port: int, rows: int, tmp: Path) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists bench cascade; drop schema if exists bench_state cascade; create schema bench")
        conn.execute(
            "create table bench.users as select 'u' || g as external_id, 'user' || g || '@example.org' as email, "
            "'First' || (g %% 1000) as first_name, 'Last' || (g %% 5000) as last_name, 'FR' as country, "
            "(g %% 997) * 1.5 as ltv, g %% 50 as orders, case when g %% 3 = 0 then 'gold' else 'silver' end as segment, "
            "g %% 10 = 0 as vip, timestamptz '2026-01-01' + (g %% 300) * interval '1 day' as last_order_at "
            "from generate_series(1, %s) g", (rows,))
        conn.execute("analyze bench.users")
    (tmp / "profiles.yml").write_text(
        f"rsync_braze:\n  target: b\n  outputs:\n    b:\n      type: postgres\n      host: 127.0.0.1\n      port: {port}\n"
        "      user: postgres\n      password: ''\n      dbname: rsync_braze\n      schema: bench\n      threads: 1\n")
    (tmp / "rsync_braze.yml").write_text(textwrap.dedent(MANIFEST))
    engine = Engine(load(tmp / "rsync_braze.yml"), resolve(tmp, str(tmp)), tmp)
    sync = select_syncs(engine.manifest, ())[0]
    # Day 0: everything delivered (the snapshot as a run would leave it).
    with psycopg.connect(url) as conn:
        spec = engine._spec(sync, engine._prepare(conn, sync, full_refresh=False).model_relation)
        conn.execute("insert into bench_state.snapshot__bench (id, row_hash, field_hashes, status, run_id) "
                     f"select _rb_id, _rb_row_hash, _rb_field_hashes, 'delivered', 0 from ({diff_query(spec)}) d")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze bench_state.snapshot__bench")
        conn.execute("update bench.users set segment = 'platinum' where hashtext(external_id) % 100 = 0")
        changed = conn.execute("select count(*) from bench.users where segment = 'platinum'").fetchone()[0]
        conn.execute("vacuum analyze bench.users")
        # Server-side cursors (which plan streams through) never use parallel workers: measure the join the
        # same way, single process, so the ratio compares the same kind of work.
        conn.execute("set max_parallel_workers_per_gather = 0")
        join_seconds = min(timed(lambda: conn.execute(bare_join_query(spec)).fetchone())[0] for _ in range(3))
    plan_seconds, result = min((timed(lambda: engine.plan(sync)) for _ in range(3)), key=lambda t: t[0])
    assert result.counts["updated"] == changed, (result.counts, changed)
    return {"rows": rows, "changed": changed, "bare_join_s": round(join_seconds, 3), "plan_s": round(plan_seconds, 3),
            "ratio": round(plan_seconds / join_seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="model sizes (repeatable)")
    parser.add_argument("--url", help="use this PostgreSQL instead of a temporary embedded one")
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = EmbeddedWarehouse(Path(tmp) / ".rsync-braze")
        warehouse.start(free_port())
        try:
            url, port = warehouse.url(), warehouse.status().port
            results = [measure(url, port, n, Path(tmp)) for n in sorted(sizes)]
        finally:
            warehouse.stop()
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
