"""Scoring marts at scale: `dbt build` of the metrics models on the embedded PostgreSQL.

In a scratch copy of this project (``.bench/scoring/project``) with its own embedded warehouse:

    day 1   rsync-braze demo-data --people N --orders-per-customer X
            dbt build of everything upstream of the scores (staging, identity resolution, golden records)
            dbt build of the scoring models from scratch (--full-refresh), with their tests      [timed]
    day 2   rsync-braze demo-data --day 2; upstream again
            dbt build of the scoring models, incremental                                         [timed]

"Scoring models": seeds/metrics, models/intermediate/metrics, the RFM snapshot, models/marts/braze
(braze_users, braze_events, braze_purchases) and data-tests/metrics. Prints one JSON object with the wall times,
the slowest models, and the rows of each table (orders and order lines included).

    .venv/bin/python benchmarks/scoring.py --people 100000
    .venv/bin/python benchmarks/scoring.py --people 1000000 --orders-per-customer 14   # ~10M orders
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "data-tests", "rsync_braze.yml")
SCORING = ["path:seeds/metrics", "path:models/intermediate/metrics", "path:snapshots",
           "path:models/marts/braze", "path:data-tests/metrics"]
TABLES = ("int_orders_unioned", "int_order_lines_unioned", "int_person_order_metrics", "int_person_rfm",
          "int_person_churn_risk", "int_person_engagement", "int_person_consent")
MARTS = ("braze_users", "braze_events", "braze_purchases")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scratch:
    """A copy of the dbt project with its own embedded warehouse; runs rsync-braze and dbt in it."""

    def __init__(self, folder: Path):
        self.dir = folder
        self.env = {k: v for k, v in os.environ.items() if k not in ("RSYNC_BRAZE_SCHEMA", "DBT_TARGET")}
        self.env.update(DBT_PROFILES_DIR=str(folder / ".rsync-braze"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for item in FILES:
            src, dst = ROOT / item, self.dir / item
            if dst.is_dir():
                shutil.rmtree(dst)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        self.run("rsync-braze", "warehouse", "start", "--port", str(free_port()))

    def stop(self) -> None:
        subprocess.run([str(BIN / "rsync-braze"), "warehouse", "stop", "--project-dir", str(self.dir)],
                       capture_output=True)

    def run(self, tool: str, *args: str) -> float:
        """Run a tool of this virtualenv in the scratch project; its wall time (raises with the output's tail)."""
        started = time.perf_counter()
        result = subprocess.run([str(BIN / tool), *args, "--project-dir", str(self.dir)], env=self.env,
                                cwd=self.dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args[:2])} exited {result.returncode}:\n"
                               + (result.stdout + result.stderr)[-3000:])
        return time.perf_counter() - started

    def slowest(self, count: int = 6) -> dict[str, float]:
        results = json.loads((self.dir / "target" / "run_results.json").read_text())["results"]
        times = sorted(((r["unique_id"].rsplit(".", 1)[-1], r["execution_time"]) for r in results),
                       key=lambda item: -item[1])
        return {name: round(seconds, 1) for name, seconds in times[:count]}

    def counts(self) -> dict[str, int]:
        import psycopg

        url = subprocess.run([str(BIN / "rsync-braze"), "warehouse", "url", "--project-dir", str(self.dir)],
                             capture_output=True, text=True, check=True).stdout.strip()
        with psycopg.connect(url) as conn:
            out = {t: conn.execute(f"select count(*) from analytics_intermediate.{t}").fetchone()[0] for t in TABLES}
            out |= {t: conn.execute(f"select count(*) from analytics_marts.{t}").fetchone()[0] for t in MARTS}
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--orders-per-customer", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="leave the warehouse running")
    parser.add_argument("--skip-day2", action="store_true", help="stop after the day-1 scoring build")
    args = parser.parse_args()
    scratch = Scratch(ROOT / ".bench" / "scoring" / "project")
    report: dict = {"people": args.people, "orders_per_customer": args.orders_per_customer, "cpus": os.cpu_count()}
    scratch.start()
    try:
        log(f"demo-data: {args.people:,} people")
        report["demo_data_s"] = round(scratch.run("rsync-braze", "demo-data", "--people", str(args.people), "--seed",
                                                  str(args.seed), "--orders-per-customer", str(args.orders_per_customer)), 1)
        log("upstream build (staging, identity, golden records)")
        upstream = ["build", "--exclude", *SCORING, "--exclude-resource-type", "test"]
        report["upstream_build_s"] = round(scratch.run("dbt", *upstream), 1)
        log("scoring build from scratch")
        report["scoring_full_build_s"] = round(scratch.run("dbt", "build", "--full-refresh", "--select", *SCORING), 1)
        report["scoring_full_slowest"] = scratch.slowest()
        report["rows"] = scratch.counts()
        if args.skip_day2:
            return
        log("day 2")
        report["day2_demo_data_s"] = round(scratch.run("rsync-braze", "demo-data", "--day", "2"), 1)
        report["day2_upstream_build_s"] = round(scratch.run("dbt", *upstream), 1)
        log("scoring build, incremental")
        report["scoring_incremental_build_s"] = round(scratch.run("dbt", "build", "--select", *SCORING), 1)
        report["scoring_incremental_slowest"] = scratch.slowest()
        report["rows_day2"] = scratch.counts()
    finally:
        if not args.keep:
            scratch.stop()
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
