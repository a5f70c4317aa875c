"""End to end: `dbt build && rsync-braze run` on N people from empty, then a day of changes.

What a pipeline runs, as subprocesses, in a scratch copy of this project with its own embedded warehouse
(``.bench/e2e-<N>/``) and a fresh local Braze emulator in its own process, at Braze's default limit
(3,000 requests per 3 s, the manifest's setting too):

    day 1   rsync-braze demo-data --people N   dbt build   rsync-braze run      (everything is new)
    day 2   rsync-braze demo-data --day 2      dbt build   rsync-braze run      (about 1% changed)

For each step: wall time; for each run: peak RSS of the `rsync-braze run` process (sampled every 50 ms),
rows per action from its ``--json`` output, and the requests and data points the emulator counted.

    .venv/bin/python benchmarks/end_to_end.py --people 100000
    .venv/bin/python benchmarks/end_to_end.py --people 1000000 --output /tmp/e2e.json

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _peers import ScratchProject, log, tool  # noqa: E402

from reverse_etl.emulator import EmulatorConfig, start_emulator  # noqa: E402

API_KEY = "bench-e2e-key"


def counters(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/counters", timeout=10) as answer:
        return json.loads(answer.read())


def run_sync(project: ScratchProject, emulator_url: str) -> dict:
    """`rsync-braze run --json` as a pipeline runs it; wall time, peak RSS, per-sync summaries."""
    env = {**project.env, "RSYNC_BRAZE_ENDPOINT": emulator_url, "BRAZE_API_KEY": API_KEY}
    before = counters(emulator_url)
    started = time.perf_counter()
    process = subprocess.Popen([tool("rsync-braze"), "run", "--json", "--project-dir", str(project.dir)],
                               env=env, cwd=project.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        watched = psutil.Process(process.pid)
        while not done.is_set():
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"rsync-braze run exited {process.returncode}: {stderr[-2000:]}")
    after = counters(emulator_url)
    syncs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "requests": after["requests"] - before["requests"],
        "data_points": after["data_points"] - before["data_points"],
        "rate_limited": after["rate_limited"] - before["rate_limited"],
        "syncs": {s["sync"]: {"status": s.get("status"), "seconds": s.get("seconds"), **s.get("counts", {})}
                  for s in syncs},
    }


def measure(people: int, seed: int) -> dict:
    result: dict = {"people": people, "seed": seed}
    config = EmulatorConfig(api_key=API_KEY)  # Braze's default limit, like the manifest
    with ScratchProject(f"e2e-{people}", fresh=True) as project, start_emulator(config, mode="process") as emulator:
        for day in (1, 2):
            log(f"day {day}: demo-data")
            step: dict = {"demo_data_s": round(project.demo_data(people, seed, day), 2)}
            log(f"day {day}: dbt build")
            step["dbt_build_s"] = round(project.dbt("build"), 2)
            log(f"day {day}: rsync-braze run")
            step["run"] = run_sync(project, emulator.url)
            step["total_s"] = round(step["demo_data_s"] + step["dbt_build_s"] + step["run"]["seconds"], 2)
            result[f"day{day}"] = step
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", help="also write the JSON object to this file")
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    result = measure(args.people, args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
