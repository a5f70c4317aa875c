"""Benchmark: `plan` on a model with 1% changed rows against the bare join of model and snapshot.

The bare join is ``select count(*) from model m full outer join snapshot s on s.id = m.id`` (the identifier
cast to text, as the diff does), on the same tables, in the same process, single-process like the plan's
server-side cursor (parallel query off): the least any diff must do. Each round times three things back to
back, in wall seconds and in CPU seconds (the warehouse's processes plus this one, from /proc: on a shared
machine, wall time mostly measures the neighbours); the ratios are of the fastest of ``--repeat`` rounds:

    bare_join       the reference above
    plan            `plan` of a sync on the model (`relation:`): the duplicate-identifier check runs
    plan_dbt_unique `plan` of the same sync through its dbt model, after a real `dbt build` whose `unique`
                    test on the identifier passed: the duplicate check is skipped (see reverse_etl/uniqueness.py)

The model is built by dbt (a table from a source table), delivered once (the snapshot a run would leave),
then 1% of the source rows change and dbt builds it again.

    .venv/bin/python benchmarks/sync_plan.py --rows 1000000

It starts its own embedded warehouse in a temporary folder and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverse_etl.diff import bare_join_query, diff_query, relation  # noqa: E402
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


DBT_PROJECT = """
name: bench
version: "1.0"
profile: rsync_braze
model-paths: [models]
models:
  bench:
    +materialized: table
"""
DBT_SCHEMA = """
models:
  - name: users
    columns:
      - name: external_id
        data_tests: [unique]
"""


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def children(postmaster: int) -> dict[int, list[str]]:
    """The postmaster's live child processes: pid -> its /proc stat fields."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(entry)
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                found[int(entry)] = fields
    return found


def server_cpu(postmaster: int) -> float:
    """CPU seconds used so far by the warehouse: the postmaster, its live children, and (cutime, cstime)
    the children that already exited (a plan's own connections)."""
    ticks = sum(int(x) for x in _stat(postmaster)[11:15])
    ticks += sum(int(f[11]) + int(f[12]) for f in children(postmaster).values())
    return ticks / TICK


def timed(fn, postmaster: int):
    """(wall seconds, CPU seconds of the warehouse plus this process, value) of ``fn()``.

    A backend that ``fn`` connected through is counted once the postmaster has reaped it (its CPU moves to the
    postmaster's cutime then; read in between, it was in neither place and a plan measured 0.03 s instead of
    0.13 s): wait for the backends ``fn`` started to be gone, up to 2 s."""
    before = set(children(postmaster))
    cpu, own, start = server_cpu(postmaster), time.process_time(), time.perf_counter()
    value = fn()
    wall, own = time.perf_counter() - start, time.process_time() - own  # not the wait below: harness work
    deadline = time.monotonic() + 2
    while set(children(postmaster)) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    return wall, server_cpu(postmaster) - cpu + own, value


def dbt_build(tmp: Path) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "build", "--project-dir", str(tmp), "--profiles-dir", str(tmp), "--quiet"],
                   check=True, cwd=tmp)
    results = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} <= {"success", "pass"}, results


def setup(url: str, port: int, rows: int, tmp: Path) -> tuple[Engine, Engine, int]:
    """The model (built by dbt), its snapshot after a first delivery, 1% of rows changed since."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists bench cascade; drop schema if exists bench_state cascade; create schema bench")
        conn.execute(
            "create table bench.users_src as select 'u' || g as external_id, 'user' || g || '@example.org' as email, "
            "'First' || (g %% 1000) as first_name, 'Last' || (g %% 5000) as last_name, 'FR' as country, "
            "(g %% 997) * 1.5 as ltv, g %% 50 as orders, case when g %% 3 = 0 then 'gold' else 'silver' end as segment, "
            "g %% 10 = 0 as vip, timestamptz '2026-01-01' + (g %% 300) * interval '1 day' as last_order_at "
            "from generate_series(1, %s) g", (rows,))
    (tmp / "profiles.yml").write_text(
        f"rsync_braze:\n  target: b\n  outputs:\n    b:\n      type: postgres\n      host: 127.0.0.1\n      port: {port}\n"
        "      user: postgres\n      password: ''\n      dbname: rsync_braze\n      schema: bench\n      threads: 1\n")
    (tmp / "dbt_project.yml").write_text(DBT_PROJECT)
    (tmp / "models").mkdir(exist_ok=True)
    (tmp / "models" / "users.sql").write_text("select * from bench.users_src")
    (tmp / "models" / "users.yml").write_text(DBT_SCHEMA)
    dbt_build(tmp)
    (tmp / "relation.yml").write_text(textwrap.dedent(MANIFEST))
    (tmp / "model.yml").write_text(textwrap.dedent(MANIFEST).replace("relation: bench.users", "model: users"))
    by_relation = Engine(load(tmp / "relation.yml"), resolve(tmp, str(tmp)), tmp)
    by_model = Engine(load(tmp / "model.yml"), resolve(tmp, str(tmp)), tmp)
    sync = select_syncs(by_relation.manifest, ())[0]
    # Day 0: everything delivered (the snapshot as a run would leave it).
    with psycopg.connect(url) as conn:
        spec = by_relation._prepare(conn, sync, full_refresh=False)
        conn.execute(f"create temp table delivered as select _rb_id, _rb_row_hash, cast(_rb_field_hashes as bigint[]) as _rb_field_hashes from ({diff_query(spec)}) d")
        conn.execute(f"insert into {spec.snapshot_relation} (id, row_hash, status, run_id) "
                     "select _rb_id, _rb_row_hash, 'delivered', 0 from delivered")
        conn.execute(f"insert into {spec.fields_relation} (id, attrs, hashes) select _rb_id, %s, _rb_field_hashes from delivered",
                     ([attr for _, attr in spec.fields],))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update bench.users_src set segment = 'platinum' where hashtext(external_id) % 100 = 0")
        changed = conn.execute("select count(*) from bench.users_src where segment = 'platinum'").fetchone()[0]
    dbt_build(tmp)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze bench.users")
        conn.execute("vacuum analyze bench_state.snapshot__bench")
        conn.execute("vacuum analyze bench_state.fields__bench")
    return by_relation, by_model, changed


def measure(url: str, port: int, rows: int, tmp: Path, repeat: int) -> dict:
    by_relation, by_model, changed = setup(url, port, rows, tmp)
    sync = select_syncs(by_relation.manifest, ())[0]
    spec = by_relation._spec(sync, relation("bench", "users"))
    rounds = []
    with psycopg.connect(url, autocommit=True) as conn:
        postmaster = int(_stat(conn.execute("select pg_backend_pid()").fetchone()[0])[1])
        # Server-side cursors (which plan streams through) never use parallel workers: measure the join the
        # same way, single process, so the ratio compares the same kind of work.
        conn.execute("set max_parallel_workers_per_gather = 0")
        for _ in range(repeat):
            join = timed(lambda: conn.execute(bare_join_query(spec)).fetchone(), postmaster)
            plan = timed(lambda: by_relation.plan(sync), postmaster)
            dbt = timed(lambda: by_model.plan(select_syncs(by_model.manifest, ())[0]), postmaster)
            checked, trusted = plan[2], dbt[2]
            assert checked.counts["updated"] == trusted.counts["updated"] == changed, (checked.counts, changed)
            assert checked.unique_because is None and trusted.unique_because, (checked, trusted)
            rounds.append({"bare_join": [round(join[0], 3), round(join[1], 2)],
                           "plan": [round(plan[0], 3), round(plan[1], 2)],
                           "plan_dbt_unique": [round(dbt[0], 3), round(dbt[1], 2)]})
    out = {"rows": rows, "changed": changed, "rounds": rounds}
    for i, kind in enumerate(("wall", "cpu")):
        best = {k: min(r[k][i] for r in rounds) for k in ("bare_join", "plan", "plan_dbt_unique")}
        out[kind] = {**{f"{k}_s": v for k, v in best.items()},
                     # None when the join is below the clock's resolution (10 ms of CPU: tiny --quick sizes)
                     "ratio": round(best["plan"] / best["bare_join"], 2) if best["bare_join"] else None,
                     "ratio_dbt_unique": round(best["plan_dbt_unique"] / best["bare_join"], 2) if best["bare_join"] else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="model sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (the fastest of each counts)")
    parser.add_argument("--url", help="an embedded warehouse already running (postgresql://postgres@127.0.0.1:PORT/rsync_braze)")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000]
    if args.url:
        with tempfile.TemporaryDirectory() as tmp:
            port = psycopg.conninfo.conninfo_to_dict(args.url)["port"]
            for n in sorted(sizes):
                print(json.dumps(measure(args.url, int(port), n, Path(tmp), args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = EmbeddedWarehouse(Path(tmp) / ".rsync-braze")
        warehouse.start(free_port())
        try:
            url, port = warehouse.url(), warehouse.status().port
            results = [measure(url, port, n, Path(tmp), args.repeat) for n in sorted(sizes)]
        finally:
            warehouse.stop()
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
