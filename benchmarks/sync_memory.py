"""Benchmark: peak memory of a whole `rsync-braze run` process must stay flat with the model's size.

For each size, a table of that many rows is synced to the local Braze emulator (its own process, rate
limits lifted) by `rsync-braze run --json` in a separate process: first run (every row sent), then a second
run (nothing changed: no request). The peak RSS of each run process is its ``ru_maxrss`` from ``wait4``.

    .venv/bin/python benchmarks/sync_memory.py --rows 100000 --rows 1000000

It starts its own embedded warehouse and emulator and stops both at the end. The emulator holds every
profile in memory (about 2 GB at 1M rows): that is the emulator's memory, not the run's.
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
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverse_etl.embedded import EmbeddedWarehouse, free_port  # noqa: E402
from reverse_etl.emulator import EmulatorConfig, start_emulator  # noqa: E402

KEY = "bench-memory-key-0c2f"

MANIFEST = """
state_schema: bench_mem_state
destinations:
  braze:
    endpoint: {endpoint}
    api_key_env: BENCH_MEMORY_BRAZE_KEY
    workers: 4
    custom_attributes:
      ltv: float
      segment: string
syncs:
  - name: users_{rows}
    relation: bench_mem.users_{rows}
    identifier: {{column: external_id, type: external_id}}
    mapping:
      email: email
      first_name: first_name
      ltv: ltv
      segment: segment
"""


def run_once(tmp: Path, rows: int) -> dict:
    """One `rsync-braze run --json` process: its peak RSS (MB), wall seconds and result."""
    env = dict(os.environ, BENCH_MEMORY_BRAZE_KEY=KEY)
    cmd = [str(Path(sys.executable).parent / "rsync-braze"), "run", f"users_{rows}", "--json",
           "--project-dir", str(tmp), "--profiles-dir", str(tmp)]
    started = time.perf_counter()
    with open(tmp / "out.json", "w") as out, open(tmp / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"run failed ({proc.returncode}): {(tmp / 'err.txt').read_text()[-2000:]}")
    result = json.loads((tmp / "out.json").read_text().splitlines()[-1])
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1), "counts": result["counts"]}


def measure(url: str, port: int, emulator_url: str, rows: int, tmp: Path) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists bench_mem_state cascade")  # every size starts with nothing delivered
        conn.execute("create schema if not exists bench_mem")
        conn.execute(f"drop table if exists bench_mem.users_{rows}")
        conn.execute(
            f"create table bench_mem.users_{rows} as select 'u' || g as external_id, "
            "'user' || g || '@example.org' as email, 'First' || (g %% 1000) as first_name, "
            "(g %% 997) * 1.5 as ltv, case when g %% 3 = 0 then 'gold' else 'silver' end as segment "
            "from generate_series(1, %s) g", (rows,))
        conn.execute(f"analyze bench_mem.users_{rows}")
    (tmp / "profiles.yml").write_text(
        f"rsync_braze:\n  target: b\n  outputs:\n    b:\n      type: postgres\n      host: 127.0.0.1\n      port: {port}\n"
        "      user: postgres\n      password: ''\n      dbname: rsync_braze\n      schema: bench_mem\n      threads: 1\n")
    (tmp / "rsync_braze.yml").write_text(textwrap.dedent(MANIFEST.format(endpoint=emulator_url, rows=rows)))
    before = requests.get(f"{emulator_url}/_emulator/counters", timeout=30).json()["requests"]
    first = run_once(tmp, rows)
    middle = requests.get(f"{emulator_url}/_emulator/counters", timeout=30).json()["requests"]
    second = run_once(tmp, rows)
    after = requests.get(f"{emulator_url}/_emulator/counters", timeout=30).json()["requests"]
    assert first["counts"]["created"] == rows, first
    assert after == middle, "a run with nothing changed sends no request"
    return {"rows": rows, "first_run": first, "first_run_requests": middle - before, "second_run": second,
            "second_run_requests": after - middle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="model sizes (repeatable)")
    parser.add_argument("--url", help="an embedded warehouse already running (postgresql://postgres@127.0.0.1:PORT/rsync_braze)")
    args = parser.parse_args()
    sizes = sorted(args.rows or [100_000, 1_000_000])
    config = EmulatorConfig(api_key=KEY, rate_limit_requests=None, users_rate_requests=None, keep_events=0)
    with tempfile.TemporaryDirectory() as tmp, start_emulator(config, mode="process") as emulator:
        warehouse = None
        if args.url:
            url = args.url
        else:
            warehouse = EmbeddedWarehouse(Path(tmp) / ".rsync-braze")
            warehouse.start(free_port())
            url = warehouse.url()
        try:
            port = int(psycopg.conninfo.conninfo_to_dict(url)["port"])
            results = [measure(url, port, emulator.url, n, Path(tmp)) for n in sizes]
        finally:
            if warehouse:
                warehouse.stop()
    for r in results:
        print(json.dumps(r))
    if len(results) > 1:
        small, big = results[0], results[-1]
        print(json.dumps({"peak_rss_ratio_first_run": round(big["first_run"]["peak_rss_mb"] / small["first_run"]["peak_rss_mb"], 2),
                          "peak_rss_ratio_second_run": round(big["second_run"]["peak_rss_mb"] / small["second_run"]["peak_rss_mb"], 2),
                          "rows": [small["rows"], big["rows"]]}))


if __name__ == "__main__":
    main()
