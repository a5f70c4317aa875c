"""`make bench`: every figure the issues target, measured the same way in one run, side by side.

Each measurement is a script of this folder run as a subprocess (one JSON object or JSON lines on stdout);
this runner collects them, derives the ratios the targets are written in, and writes

    benchmarks/results/<date>.json   every raw figure, the machine, the commit
    benchmarks/results/<date>.md     the table the README links
    benchmarks/results/<date>.png    throughput and memory against size (when matplotlib is installed)

Sizes: 100k and 1M people or rows (``--big`` adds 10M where a script supports it). ``--only NAME`` runs
some measurements (repeatable); ``--quick`` shrinks every size by 100 to check the harness itself.
Ratios are computed from figures of the same run, so they hold on a busy machine better than times do;
the load average before each step is recorded next to it.

    make bench                                # about 30 minutes on 2 cores
    .venv/bin/python benchmarks/bench.py --summarize benchmarks/results/<date>.json   # table again
    .venv/bin/python benchmarks/bench.py --only diff --only delivery
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
BRAZE_CEILING_OBJECTS_PER_S = 75_000  # 1,000 requests/s x 75 objects: Braze's documented /users/track ceiling


def steps(scale: float, big: bool) -> dict[str, list[list[str]]]:
    """Measurement name -> the commands it runs (each prints JSON)."""
    k, m = max(int(100_000 * scale), 1000), max(int(1_000_000 * scale), 2000)
    sizes = [k, m] + ([int(10_000_000 * scale)] if big else [])
    return {
        "diff": [[PY, "sync_plan.py", "--repeat", "3", *[a for n in sizes[:2] for a in ("--rows", str(n))]]],
        "delivery": [[PY, "client_throughput.py", "--scenario", "ceiling"],
                     [PY, "client_throughput.py", "--scenario", "sink"],
                     [PY, "client_throughput.py", "--scenario", "limited", "--limit", "600", "--period", "3"]],
        "emulator": [[PY, "emulator_load.py", "--seconds", "10"]],
        "memory": [[PY, "sync_memory.py", *[a for n in sizes[:2] for a in ("--rows", str(n))]]],
        "peer_drt": [[PY, "peer_drt.py", "--people", str(k)]],
        "identity": [[PY, "identity_resolution.py", "--records", str(n)] for n in sizes],
        # 560,000 people make about 1M graph nodes (records), the size the Splink comparison targets.
        "peer_splink": [[PY, "peer_splink.py", "--people", str(max(int(560_000 * scale), 1000))]],
        "scoring": [[PY, "scoring.py", "--people", str(k)]],
        "end_to_end": [[PY, "end_to_end.py", "--people", str(n)] for n in sizes[:2]],
    }


def parse(stdout: str) -> list[dict]:
    """One JSON document (possibly indented, possibly after progress lines), or JSON lines."""
    text = stdout.strip()
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.startswith(("{", "[")):
            try:
                doc = json.loads("\n".join(lines[start:]))
                return doc if isinstance(doc, list) else [doc]
            except json.JSONDecodeError:
                break
    return [json.loads(line) for line in lines if line.startswith("{")]


def run_step(name: str, commands: list[list[str]], step: dict | None = None, saved=lambda: None) -> dict:
    """Run the step's commands in turn, filling ``step`` (outputs, errors) and calling ``saved`` after each, so
    an interrupted run keeps what it measured."""
    step = step if step is not None else {}
    outputs, errors = step.setdefault("outputs", []), step.setdefault("errors", [])
    for command in commands:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
        seconds = round(time.perf_counter() - started, 1)
        print(f"  {name}: {' '.join(command[1:])} -> exit {proc.returncode} in {seconds} s", file=sys.stderr, flush=True)
        if proc.returncode != 0:
            errors.append({"command": command[1:], "exit": proc.returncode, "tail": proc.stderr[-1500:]})
            continue
        try:
            outputs.append({"command": command[1:], "load_before": round(load, 2), "seconds": seconds,
                            "results": parse(proc.stdout)})
        except json.JSONDecodeError as exc:
            errors.append({"command": command[1:], "exit": 0, "tail": f"unreadable output: {exc}"})
        saved()
    return step


def _results(raw: dict, name: str) -> list[dict]:
    return [r for out in raw.get(name, {}).get("outputs", []) for r in out["results"]]


def _scenario(raw: dict, scenario: str) -> dict:
    return next((r for r in _results(raw, "delivery") if r.get("scenario") == scenario), {})


def summary(raw: dict) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, verdict) rows; a measure missing from the run says so."""
    rows: list[tuple[str, str, str, str]] = []

    def add(measure: str, value, target: str, ok) -> None:
        informative = target in ("", "reported", "lower is better")  # a figure to read, not a target to meet
        verdict = "n/a" if value is None else ("-" if informative else ("met" if ok else "missed"))
        rows.append((measure, "not measured" if value is None else str(value), target, verdict))

    for p in _results(raw, "diff"):
        cpu = p.get("cpu", {})  # CPU seconds (warehouse + runner): wall time on a shared machine measures neighbours
        add(f"Diff: plan / bare join (CPU), {p['rows']:,} rows, 1% changed", cpu.get("ratio"), "<= 1.5",
            cpu.get("ratio") is not None and cpu["ratio"] <= 1.5)
        if cpu.get("ratio_dbt_unique") is not None:
            add(f"Diff: same, dbt unique test passed, {p['rows']:,} rows", cpu["ratio_dbt_unique"], "<= 1.5",
                cpu["ratio_dbt_unique"] <= 1.5)
    ceiling, sink, limited = _scenario(raw, "ceiling"), _scenario(raw, "sink"), _scenario(raw, "limited")
    for label, r in (("emulator, limits lifted", ceiling), ("do-nothing server", sink)):
        value = round(r["objects_per_s"] / BRAZE_CEILING_OBJECTS_PER_S, 2) if r else None
        add(f"Delivery: objects/s / 75,000 ({label})", value, ">= 1.0", value is not None and value >= 1.0)
        if r:
            add(f"Delivery: client CPU, share of one core ({label})", r.get("client_cpu_share_of_one_core"),
                "<= 1.0", (r.get("client_cpu_share_of_one_core") or 9) <= 1.0)
    if limited:
        share = limited.get("achieved_share_of_limit")
        add("Delivery: achieved / configured rate (600 per 3 s)", share, ">= 0.95",
            share is not None and share >= 0.95)
        add("Delivery: 429s at the configured rate (client / emulator)",
            f"{limited.get('throttled_429')} / {limited.get('emulator_rate_limited')}", "0 / 0",
            limited.get("throttled_429") == 0 and limited.get("emulator_rate_limited") == 0)
    for r in _results(raw, "memory"):
        if "peak_rss_ratio_first_run" in r:
            rows_ = " / ".join(f"{n:,}" for n in r.get("rows", []))
            add(f"Memory: peak RSS of a run, {rows_} rows (ratio)", r["peak_rss_ratio_first_run"], "<= 1.2",
                r["peak_rss_ratio_first_run"] <= 1.2)
        elif "first_run" in r:
            add(f"Memory: peak RSS of a first run, {r['rows']:,} rows (MB)", r["first_run"].get("peak_rss_mb"),
                "reported", True)
    for r in _results(raw, "peer_drt"):
        add(f"Cost: data points on a 1% day, rsync-braze / watermark sync ({r['people']:,} people)",
            r.get("cost_ratio_day2"), "lower is better", True)
        add("Cost: same, drt-core / watermark sync", r.get("drt_vs_watermark_day2"), "lower is better", True)
        add("Peer: initial load objects/s, rsync-braze / drt-core", r.get("throughput_ratio_initial"), "", True)
        for key, label in (("rsync_braze", "rsync-braze"), ("drt", "drt-core")):
            add(f"Peer: {label} initial load objects/s", r.get("initial", {}).get(key, {}).get("objects_per_s"), "", True)
            add(f"Peer: {label} data points, initial load / 1% day",
                f"{r.get('initial', {}).get(key, {}).get('data_points')} / {r.get('day2', {}).get(key, {}).get('data_points')}",
                "", True)
            equal = r.get("final_state", {}).get(key, {}).get("share_equal")
            # Ours must end equal to the model; the peer's share is what a user of it would get.
            add(f"Peer: {label} Braze profiles equal to the model at the end", equal,
                "1.0" if key == "rsync_braze" else "", equal == 1.0)
    for r in _results(raw, "identity"):
        seconds, records = r.get("seconds", {}).get("resolution"), r.get("records")
        target = 60 if records and records <= 1_500_000 else 900
        add(f"Identity: resolution of {records:,} records (s)", seconds, f"<= {target}",
            seconds is not None and seconds <= target)
        add(f"Identity: iterations, {records:,} records", r.get("iterations"), "<= 10", (r.get("iterations") or 99) <= 10)
    for r in _results(raw, "peer_splink"):
        nodes = (r.get("graph") or {}).get("int_identity_records")
        size = f"{r['people']:,} people" + (f", {nodes:,} records" if nodes else "")
        add(f"Identity vs Splink ({size}): time ratio, ours / Splink", r.get("time_ratio_ours_models_to_splink_guarded"),
            "reported", True)
        add(f"Identity vs Splink ({size}): share of identical clusters", r.get("identical_cluster_share_guarded"),
            "reported", True)
    for r in _results(raw, "scoring"):
        add(f"Scoring marts dbt build, {r.get('people', 0):,} people, from scratch / incremental (s)",
            f"{r.get('scoring_full_build_s')} / {r.get('scoring_incremental_build_s')}", "reported", True)
    for r in _results(raw, "end_to_end"):
        for day in ("day1", "day2"):
            d = r[day]
            add(f"End to end {day}, {r['people']:,} people: demo-data + dbt build + run (s)",
                f"{d['demo_data_s']} + {d['dbt_build_s']} + {d['run']['seconds']}", "reported", True)
            add(f"End to end {day}, {r['people']:,} people: requests / data points / peak RSS MB",
                f"{d['run']['requests']:,} / {d['run']['data_points']:,} / {d['run']['peak_rss_mb']}", "reported", True)
        add(f"End to end, {r['people']:,} people: 429s (day 1 + day 2)",
            r["day1"]["run"].get("rate_limited", 0) + r["day2"]["run"].get("rate_limited", 0), "0",
            r["day1"]["run"].get("rate_limited", 0) + r["day2"]["run"].get("rate_limited", 0) == 0)
    for r in _results(raw, "emulator"):
        add("Emulator: requests/s of 75 objects, limits lifted", r.get("requests_per_s"), ">= 1,500",
            (r.get("requests_per_s") or 0) >= 1500)
    return rows


def markdown(rows, meta: dict, raw: dict) -> str:
    lines = [f"# Benchmarks {meta['date']}", "",
             f"Commit `{meta['commit']}`, {meta['cpus']} CPUs, Python {meta['python']}, run took {meta['minutes']} min"
             + ("." if meta.get("complete", True) else
                f" (interrupted; not run: {', '.join(meta.get('not_run') or []) or 'none'}; the last step may be partial)."),
             "Every figure comes from this one run; see the JSON file next to this one for the raw outputs.", "",
             "| Measure | Figure | Target | Verdict |", "|---|---|---|---|"]
    lines += [f"| {m} | {f} | {t} | {v} |" for m, f, t, v in rows]
    if meta.get("notes"):  # what was re-measured or left out, written into the JSON by hand
        lines += ["", f"Notes: {meta['notes']}"]
    failed = {name: step["errors"] for name, step in raw.items() if step["errors"]}
    if failed:
        lines += ["", "## Measurements that failed", ""]
        for name, errors in failed.items():
            for e in errors:
                lines.append(f"- `{name}` (`{' '.join(e['command'])}`): exit {e['exit']}")
    return "\n".join(lines) + "\n"


def chart(raw: dict, path: Path) -> bool:
    """Run throughput (rows/s) and peak RSS against size, from the end-to-end runs; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    points = sorted((r["people"], r["day1"]) for r in _results(raw, "end_to_end"))
    if not points:
        return False
    sizes = [p for p, _ in points]
    # Objects Braze acknowledged (profiles, events, purchases) over the whole run's wall time.
    rate = [sum(s.get("created", 0) + s.get("updated", 0) for s in d["run"]["syncs"].values()) / max(d["run"]["seconds"], 1e-9)
            for _, d in points]
    rss = [d["run"]["peak_rss_mb"] for _, d in points]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(sizes, rate, "o-", label="objects/s (day-1 run)")
    left.set_xscale("log")
    left.set_xlabel("people")
    left.set_ylabel("objects delivered per second")
    left.set_ylim(0, max(rate) * 1.2)
    right = left.twinx()
    right.plot(sizes, rss, "s--", color="tab:red", label="peak RSS (MB)")
    right.set_ylabel("peak RSS of rsync-braze run (MB)")
    right.set_ylim(0, max(rss) * 1.2)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(loc="lower center", ncol=2)
    fig.savefig(path, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="a measurement name (repeatable)")
    parser.add_argument("--big", action="store_true", help="add 10M where supported")
    parser.add_argument("--quick", action="store_true", help="every size / 100: checks the harness, not the targets")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--summarize", metavar="JSON", help="rebuild the table and chart of an earlier run's JSON file")
    args = parser.parse_args()
    if args.summarize:
        path = Path(args.summarize)
        doc = json.loads(path.read_text())
        rows = summary(doc["raw"])
        doc["summary"] = rows
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        path.with_suffix(".md").write_text(markdown(rows, doc["meta"], doc["raw"]))
        chart(doc["raw"], path.with_suffix(".png"))
        print(markdown(rows, doc["meta"], doc["raw"]))
        return
    plan = steps(0.01 if args.quick else 1.0, args.big)
    unknown = set(args.only or ()) - set(plan)
    if unknown:
        parser.error(f"unknown measurement(s) {sorted(unknown)}; choose from {sorted(plan)}")
    started = time.perf_counter()
    raw: dict = {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = dt.date.today().isoformat() + ("-quick" if args.quick else "")
    chosen = [name for name in plan if not args.only or name in args.only]

    def save(final: bool = False) -> None:
        """Write the JSON and the table as they stand (after every command: an interrupted run keeps its figures)."""
        meta = {"date": dt.date.today().isoformat(), "commit": commit or "unknown", "cpus": os.cpu_count(),
                "python": platform.python_version(), "quick": args.quick, "complete": final,
                "not_run": [name for name in chosen if name not in raw],
                "minutes": round((time.perf_counter() - started) / 60, 1)}
        rows = summary(raw)
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": rows, "raw": raw}, indent=2,
                                                     default=str) + "\n")
        (out / f"{stem}.md").write_text(markdown(rows, meta, raw))
        if final:
            drew = chart(raw, out / f"{stem}.png")
            print(markdown(rows, meta, raw))
            print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')}"
                  + (f", {out / (stem + '.png')}" if drew else ""), file=sys.stderr)

    for name in chosen:
        print(f"{name}:", file=sys.stderr, flush=True)
        raw[name] = {"outputs": [], "errors": []}
        run_step(name, plan[name], raw[name], save)
    save(final=True)
    sys.exit(1 if any(step["errors"] for step in raw.values()) else 0)


if __name__ == "__main__":
    main()
