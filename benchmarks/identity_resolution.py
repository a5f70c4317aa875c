"""Benchmark: identity resolution of N source records with three identifier types on the embedded PostgreSQL.

The records are generated in SQL (``setseed`` then ``random()``: the same rows every run): each record picks
its person at random (2.5 records per person on average); a record carries its person's e-mail (80%), phone (50%) and loyalty card (30%),
with 3% of e-mails typed differently (a value of their own) and junk: 0.5% of records carry
``test@test.com`` (blocked), 0.5% one of 40 store phones (each above the phone cap of 5), 0.2% the phone
``0000000000`` (blocked). One row per (record, identifier) goes into a table that the ``integration_tests``
identity models read (``var('identity_it_cases')``): identifiers → group verdicts → star edges →
``identity_resolve`` (the connected-components loop, in the pre-hook of ``identity_it_clusters``), all
through a real ``dbt run``. It reports each model's wall time from ``run_results.json``, the iterations used and
the edges; "resolution" is the identifiers, groups, edges and clusters steps (the cases and records tables
are input, as the root project's records model is; the test model's checking windows are not run), and the
CPU seconds the warehouse spent during the run (on a shared machine, wall time mostly measures neighbours).

    .venv/bin/python benchmarks/identity_resolution.py                     # 1,000,000 records
    .venv/bin/python benchmarks/identity_resolution.py --records 10000000  # the 10M target (minutes)

It starts its own embedded warehouse in a temporary folder and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reverse_etl.embedded import EmbeddedWarehouse, free_port  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from sync_plan import server_cpu  # noqa: E402

PROJECT = REPO / "integration_tests"
DBT = Path(sys.executable).parent / "dbt"
SCHEMA = "bench_identity"
STEPS = ("identity_it_identifiers", "identity_it_groups", "identity_it_edges", "identity_it_clusters")

# One row per (record, identifier). Persons: records / 2.5; a record picks its person at random.
GENERATE = """
select setseed(0.42);
create unlogged table {schema}.records as
select
    'r' || n as record_key,
    (random() * {persons})::bigint as person,
    random() as r_email, random() as r_typo, random() as r_phone, random() as r_card, random() as r_junk,
    (random() * 40)::int as store
from generate_series(1, {records}) as n;
create unlogged table {schema}.cases as
select 'b' as graph_id, record_key, 'src' as source, id_type, id_value, null::varchar as expected_group
from (
    select record_key, 'email' as id_type,
           case when r_junk < 0.005 then 'test@test.com'
                when r_typo < 0.03 then 'typo.' || record_key || '@mail.example'
                else 'p' || person || '@mail.example' end as id_value
    from {schema}.records where r_email < 0.8 or r_junk < 0.005
    union all
    select record_key, 'phone',
           case when r_junk between 0.005 and 0.010 then '+3319900' || lpad(store::text, 4, '0')
                when r_junk between 0.010 and 0.012 then '0000000000'
                else '+336' || lpad(person::text, 8, '0') end
    from {schema}.records where r_phone < 0.5 or r_junk between 0.005 and 0.012
    union all
    select record_key, 'card', 'LC' || lpad(person::text, 10, '0')
    from {schema}.records where r_card < 0.3
) identifiers;
analyze {schema}.cases;
"""


def dbt(args: list[str], work: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(DBT), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=7200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="source records (default 1,000,000)")
    parser.add_argument("--keep", action="store_true", help="leave the warehouse running (prints its URL)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_identity_"))
    warehouse = EmbeddedWarehouse(tmp / ".rsync-braze")
    warehouse.start(free_port(), watch_pid=None if args.keep else os.getpid())
    try:
        status = warehouse.status()
        env = {**os.environ, "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs"),
               "RSYNC_BRAZE_IT_PACKAGES": str(tmp / "dbt_packages"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "RSYNC_BRAZE_IT_TARGET": "postgres", "RSYNC_BRAZE_IT_HOST": "127.0.0.1",
               "RSYNC_BRAZE_IT_PORT": str(status.port), "RSYNC_BRAZE_IT_USER": "postgres",
               "RSYNC_BRAZE_IT_DBNAME": status.dbname, "RSYNC_BRAZE_IT_SCHEMA": SCHEMA}
        started = time.perf_counter()
        with psycopg.connect(warehouse.url(), autocommit=True) as conn:
            conn.execute(f"create schema {SCHEMA}")
            for statement in GENERATE.format(schema=SCHEMA, records=args.records,
                                             persons=int(args.records / 2.5)).split(";"):
                if statement.strip():
                    conn.execute(statement)
            (identifier_rows,), = conn.execute(f"select count(*) from {SCHEMA}.cases").fetchall()
        print(f"generated {args.records:,} records, {identifier_rows:,} identifier rows in "
              f"{time.perf_counter() - started:.1f}s", flush=True)

        for setup in (["deps"], ["seed", "--select", "data_identity_rules", "data_identity_blocked_values"]):
            done = dbt(setup, tmp, env)
            if done.returncode != 0:
                sys.exit(f"dbt {setup[0]} failed:\n" + done.stdout[-4000:])
        with psycopg.connect(warehouse.url()) as conn:  # the postmaster is the parent of a backend
            (backend,), = conn.execute("select pg_backend_pid()").fetchall()
            with open(f"/proc/{backend}/stat") as stat:
                postmaster = int(stat.read().rsplit(")", 1)[1].split()[1])
        cpu, started = server_cpu(postmaster), time.perf_counter()
        run = dbt(["run", "--select", "identity_it_cases+", "--exclude", "test_identity_resolution",
                   "--vars", json.dumps({"identity_it_cases": f"{SCHEMA}.cases"})], tmp, env)
        wall, cpu = time.perf_counter() - started, server_cpu(postmaster) - cpu
        if run.returncode != 0:
            sys.exit("dbt run failed:\n" + run.stdout[-4000:])
        results = {r["unique_id"].split(".")[-1]: r for r in
                   json.loads((tmp / "target" / "run_results.json").read_text())["results"]}
        with psycopg.connect(warehouse.url()) as conn:
            iterations = conn.execute(
                f"select pass_number, iteration, edges_remaining, nodes_set_aside from {SCHEMA}."
                "identity_it_clusters__components__iterations order by 1, 2").fetchall()
            (edges,), = conn.execute(f"select count(*) from {SCHEMA}.identity_it_edges").fetchall()
            (persons, largest), = conn.execute(
                f"select count(*), max(n) from (select cluster_id, count(*) as n from {SCHEMA}.identity_it_clusters"
                " group by cluster_id) x").fetchall()
            skipped = conn.execute(f"select link_status, count(*) from {SCHEMA}.identity_it_groups "
                                   "where link_status in ('blocked', 'over_size_cap') group by 1 order by 1").fetchall()
        steps = {step: results[step]["execution_time"] for step in STEPS}
        report = {
            "records": args.records, "identifier_rows": identifier_rows, "edges": edges, "persons": persons,
            "largest_person": largest, "skipped_groups": dict(skipped),
            "passes": max(p for p, *_ in iterations), "iterations": max(i for _, i, *_ in iterations),
            "seconds": {**{k: round(v, 1) for k, v in steps.items()}, "resolution": round(sum(steps.values()), 1),
                        "dbt_run_wall": round(wall, 1), "warehouse_cpu_during_run": round(cpu, 1)},
            "load_average": os.getloadavg()[0],
            "iteration_log": [f"pass {p}, iteration {i}: {e:,} edges remain, {a:,} nodes set aside"
                              for p, i, e, a in iterations],
        }
        print(json.dumps(report, indent=2))
    finally:
        if args.keep:
            print(f"warehouse left running: {warehouse.url()} (home {tmp})")
        else:
            warehouse.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
